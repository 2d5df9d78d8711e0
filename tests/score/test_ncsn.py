"""NCSN: annealed Langevin dynamics with the exact score of a Gaussian reaches it; a short DSM run
learns the data's moments; its VE probability-flow likelihood matches a Gaussian's; bad configs fail."""
from __future__ import annotations

import dataclasses

import pytest
import torch

import genzoo as gz
from genzoo.models.ncsn import NCSN, NCSNConfig
from genzoo.samplers.annealed_langevin import annealed_langevin, geometric_sigmas

MU, STD = torch.tensor([1.0, -0.5]), torch.tensor([0.5, 0.2])


def gaussian_score(x, sigma):
    """Score of N(MU, STD^2) convolved with N(0, sigma^2): -(x - MU) / (STD^2 + sigma^2)."""
    return -(x - MU) / (STD ** 2 + sigma[:, None] ** 2)


def test_geometric_sigmas():
    s = geometric_sigmas(10.0, 0.01, 4)
    assert torch.allclose(s, torch.tensor([10.0, 1.0, 0.1, 0.01]))


def test_annealed_langevin_with_the_exact_score_reaches_the_gaussian():
    """Step sizes a_i = e sigma_i^2 / sigma_L^2 need e < 2 sigma_L^2 (stability at the first level) and
    ~STD^2 / a_L steps to mix at the last: sigma_L = 0.05, e = 1e-3, 100 steps per level."""
    sigmas = geometric_sigmas(5.0, 0.05, 8)
    x0 = 5.0 * torch.randn(4000, 2, generator=torch.Generator().manual_seed(0))
    x = annealed_langevin(gaussian_score, sigmas, x0, n_steps_each=100, step_lr=1e-3,
                          generator=torch.Generator().manual_seed(1))
    assert torch.allclose(x.mean(0), MU, atol=0.05)
    assert torch.allclose(x.std(0), STD, rtol=0.08), x.std(0)
    again = annealed_langevin(gaussian_score, sigmas, x0, n_steps_each=100, step_lr=1e-3,
                              generator=torch.Generator().manual_seed(1))
    assert torch.equal(x, again)


def test_exact_score_network_gives_the_gaussian_likelihood():
    """Plug the exact score of centred data into the model (net = -sigma * score): the VE ODE likelihood
    is log N (centred, so the prior N(0, sigma_begin^2) differs from p_1 only by STD^2 / sigma_begin^2)."""
    model = NCSN(NCSNConfig(shape=(2,), hidden=8, depth=1, sigma_begin=50.0, sigma_end=0.01, ode_rtol=1e-6, ode_atol=1e-6))

    class Exact(torch.nn.Module):
        def forward(self, x, t_scaled, labels=None):
            sigma = model.sigma_of(t_scaled / model.config.time_scale)
            return sigma[:, None] * x / (STD ** 2 + sigma[:, None] ** 2)

    model.net = Exact()
    x = torch.tensor([[0.0, 0.0], [0.6, 0.1], [-0.8, -0.4]])
    logp = model.log_prob(x)
    truth = torch.distributions.Normal(0.0, (STD ** 2 + 0.01 ** 2).sqrt()).log_prob(x).sum(1)
    assert (logp - truth).abs().max() / 2 < 1e-3


@pytest.mark.slow
def test_short_training_learns_the_moments():
    torch.manual_seed(0)
    data = MU + STD * torch.randn(2048, 2)
    model = NCSN(NCSNConfig(shape=(2,), hidden=32, depth=2, sigma_begin=3.0, sigma_end=0.05, num_scales=6,
                            n_steps_each=40, step_lr=1e-3))
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    first = None
    for _ in range(400):
        batch = data[torch.randint(0, len(data), (256,))]
        loss = model.loss(batch)["loss"]
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first
    x = model.eval().sample(500, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(x.mean(0), MU, atol=0.15), x.mean(0)
    assert torch.allclose(x.std(0), STD, atol=0.15), x.std(0)


def test_bad_configs():
    with pytest.raises(gz.ConfigError, match="sigma_end"):
        NCSN(NCSNConfig(sigma_begin=0.01, sigma_end=1.0))
    with pytest.raises(gz.ConfigError, match="num_scales"):
        NCSN(NCSNConfig(num_scales=1))
    with pytest.raises(gz.DataError, match="shape"):
        NCSN(NCSNConfig(shape=(2,), hidden=8, depth=1)).loss(torch.zeros(4, 3))


def test_config_for_data_reads_the_data_scale():
    data = gz.load_dataset("8gaussians", split="test")
    model = gz.build("ncsn", data=data, hidden=16, depth=1)
    assert model.config.shape == (2,) and 5.0 < model.config.sigma_begin < 20.0


@pytest.mark.slow
def test_image_log_prob_is_dequantised_hutchinson_and_seeded():
    cfg = NCSNConfig(shape=(1, 4, 4), levels=17, block_out_channels=(8,), attention_levels=(), norm_num_groups=4,
                     sigma_begin=4.0, sigma_end=0.05, ode_rtol=1e-2, ode_atol=1e-2)
    torch.manual_seed(0)
    model = NCSN(cfg).eval()
    x = (torch.randint(0, 17, (3, 1, 4, 4)) / 8.0 - 1.0)
    u = model.dequantize(x, torch.Generator().manual_seed(0)) - x
    assert 0 < u.abs().max() <= 1 / 16 and u.std() > 1 / 64                     # uniform within half a bin
    assert torch.equal(NCSN(dataclasses.replace(cfg, levels=None)).dequantize(x, torch.Generator()), x)
    stats = {}
    a = model.log_prob(x, stats=stats)
    assert a.shape == (3,) and torch.isfinite(a).all() and stats["nfe"] > 5
    assert torch.equal(a, model.log_prob(x, generator=torch.Generator().manual_seed(0)))   # default seed 0
    sample = model.sample(2, generator=torch.Generator().manual_seed(0), n_steps_each=2)
    assert sample.shape == (2, 1, 4, 4) and sample.abs().max() <= 1
