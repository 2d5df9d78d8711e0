"""EBM family: objectives train, replay buffer checkpoints, AIS log Z agrees with grid integration."""
import math

import pytest
import torch

import genzoo as gz
from genzoo.models.ebm import EBM, EBMConfig


def ring_data(n=2048, seed=0):
    g = torch.Generator().manual_seed(seed)
    ang = torch.randint(8, (n,), generator=g) * (2 * math.pi / 8)
    return gz.GenDataset("ring", "train", "2d", 2 * torch.stack([ang.cos(), ang.sin()], 1) + 0.3 * torch.randn(n, 2, generator=g))


def train(model, data, steps, lr=3e-3, batch=128):
    opts = model.configure_optimizers(lr=lr)
    for step in range(steps):
        idx = torch.randint(len(data), (batch,))
        logs = model.training_step(data.x[idx], step, optimizers=opts)
    return logs


def test_log_prob_is_an_estimate_with_a_standard_error():
    model = EBM(EBMConfig(hidden=8, depth=1, ais_chains=32, ais_temps=20))
    assert EBM.log_prob_kind == "estimate"
    lp = model.log_prob(torch.randn(5, 2))
    assert lp.shape == (5,) and torch.isfinite(lp).all()
    log_z, se = model.log_partition()
    assert se > 0 and model.log_partition() == (log_z, se)  # cached while the weights are unchanged


@pytest.mark.parametrize("objective", ["pcd", "cd", "ssm", "dsm", "nce"])
def test_every_objective_steps_finitely(objective):
    torch.manual_seed(0)
    data = ring_data(256)
    model = gz.build("ebm", data=data, hidden=16, depth=2, objective=objective, sgld_steps=3, buffer_size=128)
    before = [p.detach().clone() for p in model.parameters()]
    logs = train(model, data, 3)
    assert all(math.isfinite(v) for v in logs.values()), logs
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_replay_buffer_updates_and_checkpoints():
    torch.manual_seed(0)
    model = EBM(EBMConfig(hidden=8, depth=1, sgld_steps=2, buffer_size=200, reinit_prob=0.05))
    opts = model.configure_optimizers(lr=1e-3)
    model.training_step(torch.randn(32, 2), 0, optimizers=opts)
    buf = model.extra_state_tensors()["replay_buffer"]
    assert buf.shape == (200, 2)
    snapshot = buf.clone()
    model.training_step(torch.randn(32, 2), 1, optimizers=opts)
    changed = (model.replay_buffer != snapshot).any(1).sum().item()
    assert 0 < changed <= 32  # only the rows drawn for this batch move
    other = EBM(model.config)
    other.load_extra_state_tensors(model.extra_state_tensors())
    assert torch.equal(other.replay_buffer, model.replay_buffer)


@pytest.mark.slow
def test_trainer_resume_restores_the_buffer_exactly(tmp_path):
    data = ring_data(512)

    def run(out=None, stop=None, resume=False):
        torch.manual_seed(0)
        model = gz.build("ebm", data=data, hidden=8, depth=1, sgld_steps=2, buffer_size=100)
        cbs = [lambda tr, step, logs: tr.stop() if step == stop else None] if stop else []
        return gz.Trainer(model, data, steps=6, batch_size=32, lr=1e-3, seed=1, out=out, checkpoint_every=1,
                          sample_every=0, progress=False, callbacks=cbs, resume=resume).fit()

    reference = run()
    run(tmp_path, stop=3)
    resumed = run(tmp_path, resume=True)
    assert torch.equal(resumed.replay_buffer, reference.replay_buffer)
    assert all(torch.equal(a, b) for a, b in zip(resumed.state_dict().values(), reference.state_dict().values()))


@pytest.mark.slow
def test_trained_2d_ebm_ais_matches_grid_integration():
    torch.manual_seed(0)
    data = ring_data()
    model = gz.build("ebm", data=data, hidden=32, depth=2, objective="dsm", ais_chains=128, ais_temps=300)
    train(model, data, 100)
    grid, _ = model.log_partition("grid")
    ais, se = model.log_partition("ais")
    assert abs(ais - grid) < 0.02 * abs(grid), (ais, se, grid)
    assert abs(ais - grid) < 0.02  # Z itself within 2%
    # the grid covers the mass: a wider, finer grid changes log Z by < 0.1%
    assert abs(model.log_z_grid(600, 1.5 * model.config.grid_range) - grid) < 1e-3


def test_conv_energy_on_images():
    torch.manual_seed(0)
    model = EBM(EBMConfig(shape=(1, 8, 8), hidden=16, channels=4, sgld_steps=2, buffer_size=64, init_range=1.0,
                          sample_steps=3))
    opts = model.configure_optimizers(lr=1e-3)
    logs = model.training_step(torch.rand(8, 1, 8, 8) * 2 - 1, 0, optimizers=opts)
    assert all(math.isfinite(v) for v in logs.values())
    s = model.sample(4, generator=torch.Generator().manual_seed(0))
    assert s.shape == (4, 1, 8, 8) and s.abs().max() <= 1
    with pytest.raises(gz.NotSupported):
        model.log_z_grid()


def test_bad_options_are_config_errors():
    with pytest.raises(gz.ConfigError, match="pcd"):
        EBM(EBMConfig(objective="nope"))
    with pytest.raises(gz.ConfigError, match="divisible"):
        EBM(EBMConfig(shape=(1, 6, 6)))


def test_conv_energy_with_the_digits_options(tmp_path):
    """chain_init=gaussian (fitted on the first batch, kept by save/load), per-coordinate SGLD
    gradient clipping and Adam betas from the config."""
    torch.manual_seed(0)
    config = EBMConfig(shape=(1, 8, 8), hidden=16, channels=4, sgld_steps=2, buffer_size=64, init_range=1.0,
                       sample_steps=3, chain_init="gaussian", sgld_clip_grad=1e-5, sgld_step_size=2e4,
                       sgld_noise=0.0, betas=(0.0, 0.999))
    model = EBM(config)
    opts = model.configure_optimizers(lr=1e-3)
    assert opts[0].defaults["betas"] == (0.0, 0.999)
    x = (-0.8 + 0.1 * torch.randn(64, 1, 8, 8)).clamp(-1, 1)
    model.training_step(x, 0, optimizers=opts)
    torch.testing.assert_close(model.noise_mean, x.flatten(1).mean(0))
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    starts = model.sample(500, generator=g(), steps=0)
    assert abs(starts.mean().item() + 0.8) < 0.02  # uniform starts would average 0
    # one SGLD step moves every coordinate by at most (ε/2)·c = 0.1 (ε = 2e4, c = 1e-5, no noise)
    x0 = torch.zeros(4, 1, 8, 8)
    moved = (model.langevin(x0, 1) - x0).abs()
    assert moved.max() <= 0.1 + 1e-6 and moved.max() > 0.09
    model.save_pretrained(tmp_path)
    assert torch.equal(gz.load(tmp_path).sample(5, generator=g()), model.sample(5, generator=g()))
    with pytest.raises(gz.ConfigError, match="chain_init"):
        EBM(EBMConfig(chain_init="data"))
