"""Each genzoo sampler step equals the diffusers scheduler's ``step(...).prev_sample`` (fp32, same
model output, same noise) over whole trajectories; ``add_noise``/velocity equal."""
import pytest
import torch

diffusers = pytest.importorskip("diffusers")

from genzoo.samplers.denoise import build_sampler  # noqa: E402
from genzoo.samplers.noise_schedule import NoiseSchedule  # noqa: E402

SHAPE = (3, 2, 4, 4)


ALPHAS_CUMPROD = NoiseSchedule.create("linear").alphas_cumprod.double()


def fake_model(x, t, prediction):
    """A stand-in for a trained network: the output implied by x0_hat = 0.8 tanh(1.3 x + t / 1000)."""
    t = float(t)
    lo = min(int(t), 998)
    ac = float(ALPHAS_CUMPROD[lo] + (t - lo) * (ALPHAS_CUMPROD[lo + 1] - ALPHAS_CUMPROD[lo]))
    a, s = ac ** 0.5, (1 - ac) ** 0.5
    x0 = 0.8 * torch.tanh(1.3 * x + t / 1000)
    eps = (x - a * x0) / s
    return {"epsilon": eps, "sample": x0, "v_prediction": a * eps - s * x0}[prediction]


def diffusers_trajectory(sched, steps, seed, **step_kw):
    sched.set_timesteps(steps)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(123)) * sched.init_noise_sigma
    xs = []
    for t in sched.timesteps:
        out = fake_model(sched.scale_model_input(x, t), t, sched.config.prediction_type)
        kw = dict(step_kw)
        if isinstance(sched, (diffusers.DDPMScheduler,)) or step_kw.get("eta", 0) > 0:
            kw["generator"] = g
        x = sched.step(out, t, x, **kw).prev_sample
        xs.append(x)
    return xs


def genzoo_trajectory(sampler, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(123)) * sampler.init_noise_sigma
    state, xs = None, []
    for i in range(len(sampler)):
        out = fake_model(sampler.model_input(x, i), sampler.timesteps[i], sampler.prediction)
        x, _, state = sampler.step(out, i, x, state, generator=g)
        xs.append(x)
    return xs


def schedule_kwargs(beta_schedule):
    return dict(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule=beta_schedule)


def check(sched, sampler, steps, **step_kw):
    ref = diffusers_trajectory(sched, steps, seed=7, **step_kw)
    ours = genzoo_trajectory(sampler, seed=7)
    assert torch.equal(torch.as_tensor(sched.timesteps, dtype=sampler.timesteps.dtype), sampler.timesteps)
    assert len(ref) == len(ours)
    for i, (a, b) in enumerate(zip(ref, ours)):
        assert (a - b).abs().max() < 1e-5, f"step {i}: max diff {(a - b).abs().max():.2e}"


PRED = ["epsilon", "sample", "v_prediction"]


@pytest.mark.parametrize("prediction", PRED)
@pytest.mark.parametrize("spacing,steps", [("leading", 20), ("trailing", 25), ("linspace", 10)])
@pytest.mark.parametrize("clip", [True, False])
def test_ddpm(prediction, spacing, steps, clip):
    sched = diffusers.DDPMScheduler(**schedule_kwargs("linear"), prediction_type=prediction,
                                    timestep_spacing=spacing, clip_sample=clip)
    ours = build_sampler("ddpm", NoiseSchedule.create("linear"), steps, prediction=prediction,
                         timestep_spacing=spacing, clip_sample=clip)
    check(sched, ours, steps)


@pytest.mark.parametrize("prediction", PRED)
@pytest.mark.parametrize("spacing", ["leading", "trailing"])
@pytest.mark.parametrize("eta", [0.0, 0.5])
@pytest.mark.parametrize("beta_schedule", ["linear", "squaredcos_cap_v2", "scaled_linear"])
def test_ddim(prediction, spacing, eta, beta_schedule):
    sched = diffusers.DDIMScheduler(**schedule_kwargs(beta_schedule), prediction_type=prediction,
                                    timestep_spacing=spacing, clip_sample=True)
    ours = build_sampler("ddim", NoiseSchedule.create(beta_schedule), 20, prediction=prediction,
                         timestep_spacing=spacing, clip_sample=True, eta=eta)
    check(sched, ours, 20, eta=eta)


@pytest.mark.parametrize("prediction", PRED)
@pytest.mark.parametrize("spacing", ["linspace", "leading", "trailing"])
@pytest.mark.parametrize("karras", [False, True])
@pytest.mark.parametrize("steps", [10, 20])
def test_dpm_solver_pp_2m(prediction, spacing, karras, steps):
    sched = diffusers.DPMSolverMultistepScheduler(**schedule_kwargs("linear"), prediction_type=prediction,
                                                  timestep_spacing=spacing, use_karras_sigmas=karras)
    ours = build_sampler("dpm++2m", NoiseSchedule.create("linear"), steps, prediction=prediction,
                         timestep_spacing=spacing, use_karras_sigmas=karras)
    check(sched, ours, steps)


@pytest.mark.parametrize("name,cls", [("euler", "EulerDiscreteScheduler"), ("heun", "HeunDiscreteScheduler")])
@pytest.mark.parametrize("prediction", PRED)
@pytest.mark.parametrize("spacing", ["linspace", "leading", "trailing"])
@pytest.mark.parametrize("karras", [True, False])
def test_euler_heun(name, cls, prediction, spacing, karras):
    sched = getattr(diffusers, cls)(**schedule_kwargs("linear"), prediction_type=prediction,
                                    timestep_spacing=spacing, use_karras_sigmas=karras)
    ours = build_sampler(name, NoiseSchedule.create("linear"), 12, prediction=prediction,
                         timestep_spacing=spacing, use_karras_sigmas=karras)
    check(sched, ours, 12)


@pytest.mark.parametrize("beta_schedule", ["linear", "scaled_linear", "squaredcos_cap_v2", "cosine"])
def test_add_noise_and_velocity(beta_schedule):
    sched = diffusers.DDPMScheduler(**schedule_kwargs("squaredcos_cap_v2" if beta_schedule == "cosine" else beta_schedule))
    ours = NoiseSchedule.create(beta_schedule)
    assert torch.equal(sched.alphas_cumprod, ours.alphas_cumprod)
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(SHAPE, generator=g), torch.randn(SHAPE, generator=g)
    t = torch.tensor([0, 500, 999])
    assert torch.allclose(sched.add_noise(x0, noise, t), ours.add_noise(x0, noise, t), atol=1e-6)
    assert torch.allclose(sched.get_velocity(x0, noise, t), ours.velocity(x0, noise, t), atol=1e-6)
