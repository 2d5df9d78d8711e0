"""RePaint resampling (Lugmayr et al. 2022): parity with diffusers' ``RePaintScheduler`` (jump schedule,
one re-noising step, a whole inpainting trajectory with the same generator), the harmonisation it
buys on a correlated Gaussian with the exact score, known pixels kept, errors, CLI."""
from __future__ import annotations

import pytest
import torch
import typer
from diffusers import RePaintScheduler
from typer.testing import CliRunner

import genzoo as gz
from genzoo.cli.edit import edit
from genzoo.pipelines.diffusion import InpaintPipeline
from genzoo.samplers.denoise import build_sampler
from genzoo.samplers.editing import inpaint, renoise, repaint_walk
from genzoo.samplers.noise_schedule import NoiseSchedule


@pytest.mark.parametrize("T,n,j,r", [(1000, 250, 10, 10), (1000, 50, 5, 3), (100, 100, 1, 2), (40, 40, 3, 2),
                                     (1000, 25, 4, 1)])
def test_jump_schedule_equals_diffusers(T, n, j, r):
    ref = RePaintScheduler(num_train_timesteps=T)
    ref.set_timesteps(n, jump_length=j, jump_n_sample=r)
    ours = torch.tensor(repaint_walk(n, j, r)) * (T // n)
    assert torch.equal(ours, ref.timesteps)
    smp = build_sampler("ddpm", NoiseSchedule.create("linear", T), n)   # walk entries are sampler steps n - 1 - t
    assert torch.equal(smp.timesteps[[n - 1 - t for t in repaint_walk(n, j, r)]], ref.timesteps)


@pytest.mark.parametrize("n,i", [(40, 7), (40, 39), (10, 3), (10, 8)])
def test_one_renoise_step_equals_undo_step(n, i):
    T = 40
    ref = RePaintScheduler(num_train_timesteps=T)
    ref.set_timesteps(n, 2, 2)
    smp = build_sampler("ddpm", NoiseSchedule.create("linear", T), n)
    x = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    ours = renoise(smp, x, i, generator=torch.Generator().manual_seed(1))
    # diffusers' undo_step(x, u) applies betas[u .. u + T/n - 1]; from the level after step i the
    # forward transitions up to step i's level are betas[prev_timestep(i) + 1 .. t_i]. (Its pipeline
    # calls undo_step(x, t_last = t_i), which is the same when T/n = 1 and T/n - 1 levels lower otherwise;
    # from the clean end to the last step, t = 0, genzoo applies the one beta_0 where diffusers applies T/n.)
    theirs = ref.undo_step(x, smp.prev_timestep(i) + 1, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(ours, theirs, atol=1e-6, rtol=0)


def fake_model(x, t):
    """A fixed, deterministic stand-in for the network's epsilon prediction."""
    pattern = torch.sin(torch.arange(x[0].numel(), dtype=x.dtype)).reshape(x.shape[1:])
    return 0.3 * x + 0.01 * float(t) * pattern


@pytest.mark.parametrize("j,r", [(3, 2), (1, 3), (5, 1)])
def test_inpainting_trajectory_equals_diffusers_repaint_loop(j, r):
    """float64 schedules on both sides, so the comparison sees the algorithm (walk, formulas, the order
    of the generator's draws), not diffusers' float32 cancellation in sqrt(1 - abar_prev - sigma^2)."""
    T = 40
    ref = RePaintScheduler(num_train_timesteps=T, clip_sample=False, eta=1.0)
    ref.set_timesteps(T, j, r)
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    ref.betas, ref.alphas_cumprod = betas.clone(), torch.cumprod(1 - betas, 0)
    ref.final_alpha_cumprod = ref.final_alpha_cumprod.double()
    smp = build_sampler("ddpm", NoiseSchedule(betas, torch.cumprod(1 - betas, 0)), T)
    image = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1
    mask = (torch.rand(1, 1, 6, 6, generator=torch.Generator().manual_seed(1)) > 0.5).double()
    if r == 1:  # without resampling genzoo keeps its sampler-generic replacement loop (other draw order)
        out = inpaint(fake_model, smp, image, mask, generator=torch.Generator().manual_seed(3), jump_length=j)
        assert torch.equal(out * mask, image * mask)
        return
    ours = inpaint(fake_model, smp, image, mask, generator=torch.Generator().manual_seed(3), jump_length=j,
                   jump_n_sample=r)
    g = torch.Generator().manual_seed(3)   # diffusers' RePaintPipeline loop
    x = torch.randn(image.shape, generator=g, dtype=torch.float64)
    t_last = ref.timesteps[0] + 1
    for t in ref.timesteps:
        if t < t_last:
            x = ref.step(fake_model(x, t), t, x, image, mask, g).prev_sample
        else:
            x = ref.undo_step(x, t_last, g)
        t_last = t
    assert torch.allclose(ours, x, atol=1e-10, rtol=0), (ours - x).abs().max()
    assert torch.equal(ours * mask, image * mask)


def test_resampling_harmonises_a_correlated_gaussian():
    """Data N(0, [[1, .9], [.9, 1]]) with the exact epsilon; keep x1 = 1.5: the true conditional mean
    of x2 is 1.35. Replacement alone ignores most of the correlation; RePaint resampling recovers it."""
    schedule = NoiseSchedule.create("linear", 1000)
    cov = torch.tensor([[1.0, 0.9], [0.9, 1.0]])

    def exact_eps(x, t):
        ab = schedule.alphas_cumprod[int(t)]
        return (1 - ab).sqrt() * x @ torch.linalg.inv(ab * cov + (1 - ab) * torch.eye(2)).T

    x = torch.zeros(2000, 2)
    x[:, 0] = 1.5
    keep = torch.tensor([1.0, 0.0])
    smp = build_sampler("ddpm", schedule, 20)
    plain = inpaint(exact_eps, smp, x, keep, generator=torch.Generator().manual_seed(0))
    resampled = inpaint(exact_eps, smp, x, keep, generator=torch.Generator().manual_seed(0), jump_n_sample=10)
    assert torch.equal(resampled[:, 0], x[:, 0])
    assert abs(plain[:, 1].mean() - 1.35) > 0.4
    assert abs(resampled[:, 1].mean() - 1.35) < 0.1, resampled[:, 1].mean()


@pytest.fixture(scope="module")
def tiny_ddpm():
    torch.manual_seed(0)
    return gz.build("ddpm", shape=(1, 8, 8), block_out_channels=(8, 16), attention_levels=(1,), norm_num_groups=4,
                    num_train_timesteps=100, sample_steps=4).eval()


def test_pipeline_with_jumps_keeps_known_pixels_and_rejects_bad_values(tiny_ddpm):
    image = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    mask = torch.zeros(8, 8)
    mask[2:6, 2:6] = 1
    pipe = InpaintPipeline(tiny_ddpm)
    out = pipe(image=image, mask_image=mask, num_inference_steps=10, jump_length=2, jump_n_sample=3,
               generator=torch.Generator().manual_seed(0), output_type="tensor").images
    keep = (mask == 0).expand_as(image)
    assert torch.allclose(out[keep], ((image + 1) / 2)[keep], atol=1e-5)
    again = pipe(image=image, mask_image=mask, num_inference_steps=10, jump_length=2, jump_n_sample=3,
                 generator=torch.Generator().manual_seed(0), output_type="tensor").images
    assert torch.equal(out, again)
    for kw, msg in ((dict(jump_length=0), "jump_length"), (dict(jump_n_sample=0), "jump_n_sample"),
                    (dict(jump_n_sample=2.5), "jump_n_sample"), (dict(jump_n_sample=2, sampler="ddim"), "ddpm"),
                    (dict(jump_length=10, jump_n_sample=2), "smaller than the number of steps")):
        with pytest.raises(gz.ConfigError, match=msg):
            pipe(image=image, mask_image=mask, num_inference_steps=10, output_type="tensor", **kw)


def test_cli_jump_options(tiny_ddpm, tmp_path):
    run = tmp_path / "ddpm"
    tiny_ddpm.save_pretrained(run)
    app = typer.Typer()
    app.command()(edit)
    app.command("noop")(lambda: None)
    out = tmp_path / "grid.png"
    base = ["edit", str(run), "--data", "digits", "--index", "0,1", "--steps", "8"]
    res = CliRunner().invoke(app, [*base, "--jump-length", "2", "--jump-n-sample", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.is_file()
    for bad, msg in ((["--jump-n-sample", "0"], "jump_n_sample"), (["--jump-length", "0"], "jump_length"),
                     (["--mode", "img2img", "--jump-n-sample", "2"], "--mode inpaint")):
        res = CliRunner().invoke(app, [*base, *bad])
        assert isinstance(res.exception, gz.ConfigError) and msg in str(res.exception), (bad, res.exception)
