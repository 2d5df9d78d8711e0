"""DDPM objective (targets, min-SNR weights, label dropout), classifier-free guidance, seeded
sampling, and every sampler against an exact Gaussian denoiser (known answer)."""
import math

import pytest
import torch
from torch import nn

import genzoo as gz
from genzoo.samplers.noise_schedule import NoiseSchedule


def ddpm_2d(**kw):
    cfg = dict(shape=(2,), hidden=32, depth=2, num_train_timesteps=100, sample_steps=5)
    cfg.update(kw)
    torch.manual_seed(0)
    return gz.build("ddpm", **cfg)


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_loss_is_mse_to_the_right_target(prediction):
    model = ddpm_2d(prediction=prediction)
    x0 = torch.randn(16, 2)
    torch.manual_seed(5)
    loss = model.loss(x0)["loss"]
    torch.manual_seed(5)  # replay the same draws: t, then eps
    t = torch.randint(0, 100, (16,))
    eps = torch.randn_like(x0)
    ab = model.schedule.alphas_cumprod[t][:, None]
    xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    target = {"eps": eps, "x0": x0, "v": ab.sqrt() * eps - (1 - ab).sqrt() * x0}[prediction]
    expected = ((model.net(xt, t) - target) ** 2).mean()
    assert torch.allclose(loss, expected, atol=1e-6)


@pytest.mark.parametrize("prediction,weight", [("eps", lambda s, g: min(s, g) / s), ("x0", lambda s, g: min(s, g)),
                                               ("v", lambda s, g: min(s, g) / (s + 1))])
def test_min_snr_weights(prediction, weight):
    model = ddpm_2d(prediction=prediction, min_snr_gamma=5.0)
    t = torch.tensor([0, 10, 50, 99])
    ac = model.schedule.alphas_cumprod[t].double()
    snr = ac / (1 - ac)
    expected = torch.tensor([weight(float(s), 5.0) for s in snr])
    assert torch.allclose(model.min_snr_weight(t).double(), expected.double(), rtol=1e-5)


def test_label_dropout_uses_the_null_class():
    y = torch.arange(10) % 3
    assert torch.equal(ddpm_2d(num_classes=3, label_dropout=0.0).training_labels(y, 10, "cpu"), y)
    assert (ddpm_2d(num_classes=3, label_dropout=1.0).training_labels(y, 10, "cpu") == 3).all()
    with pytest.raises(gz.DataError, match="labels"):
        ddpm_2d(num_classes=3).loss(torch.randn(4, 2))


def test_classifier_free_guidance_combines_cond_and_uncond():
    model = ddpm_2d(num_classes=3).eval()
    x, t, y = torch.randn(4, 2), torch.tensor(30), torch.tensor([0, 1, 2, 1])
    with torch.no_grad():
        cond, uncond = model.net(x, t, y), model.net(x, t, torch.full_like(y, 3))
        guided = model.guided_fn(y, 2.5)(x, t)
        plain = model.guided_fn(y, 1.0)(x, t)
    assert torch.allclose(guided, uncond + 2.5 * (cond - uncond), atol=1e-6)
    assert torch.allclose(plain, cond)
    a = model.sample(4, generator=torch.Generator().manual_seed(0), guidance_scale=3.0, class_labels=[2])
    b = model.sample(4, generator=torch.Generator().manual_seed(0), guidance_scale=3.0, class_labels=2)
    assert torch.equal(a, b)
    with pytest.raises(gz.ConfigError, match="class_labels"):
        model.sample(4, class_labels=[0, 5, 1, 1])
    with pytest.raises(gz.ConfigError, match="class-conditional"):
        ddpm_2d().sample(2, guidance_scale=2.0)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpm++2m", "euler", "heun"])
def test_every_sampler_is_seeded(sampler):
    model = ddpm_2d().eval()
    a = model.sample(3, generator=torch.Generator().manual_seed(1), sampler=sampler, steps=6)
    b = model.sample(3, generator=torch.Generator().manual_seed(1), sampler=sampler, steps=6)
    assert a.shape == (3, 2) and torch.equal(a, b)


class GaussianDenoiser(nn.Module):
    """The exact E[eps | x_t] for data N(m, s^2 I): (x_t - a m) s_t / (a^2 s^2 + s_t^2), at fractional t too."""

    def __init__(self, schedule: NoiseSchedule, m: float, s: float):
        super().__init__()
        self.log_sigmas = torch.from_numpy(schedule.sigmas()).double().log()
        self.m, self.s = m, s

    def forward(self, x, t, class_labels=None):
        t = torch.as_tensor(t, dtype=torch.float64).reshape(-1)[:1]
        lo = t.floor().long().clamp(max=len(self.log_sigmas) - 2)
        log_sigma = self.log_sigmas[lo] + (t - lo) * (self.log_sigmas[lo + 1] - self.log_sigmas[lo])
        sigma = float(log_sigma.exp())
        a = 1 / math.sqrt(1 + sigma ** 2)
        st = sigma * a
        return ((x - a * self.m) * st / (a ** 2 * self.s ** 2 + st ** 2)).float()


def gaussian_samples(sampler, steps, n=4000, m=0.7, s=0.3):
    model = gz.build("ddpm", shape=(2,), hidden=8, depth=1, clip_sample=False, timestep_spacing="trailing").eval()
    model.net = GaussianDenoiser(model.schedule, m, s)
    return model.sample(n, generator=torch.Generator().manual_seed(0), sampler=sampler, steps=steps)


@pytest.mark.parametrize("sampler,steps", [("ddpm", 1000), ("ddim", 1000), ("dpm++2m", 100), ("heun", 50), ("euler", 200)])
def test_samplers_converge_to_the_data_gaussian_with_the_exact_denoiser(sampler, steps):
    """Data N(0.7, 0.3^2): with the exact eps-predictor every sampler's output approaches the data law as steps grow."""
    x = gaussian_samples(sampler, steps)
    assert abs(x.mean().item() - 0.7) < 0.01, x.mean()
    assert abs(x.std().item() - 0.3) < 0.01, x.std()


def test_dpm_solver_is_more_accurate_than_ddim_at_20_steps():
    err = {name: abs(gaussian_samples(name, 20).std().item() - 0.3) for name in ("ddim", "dpm++2m")}
    assert err["dpm++2m"] < 0.7 * err["ddim"], err
