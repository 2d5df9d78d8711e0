"""The Trainer: exact resume after kill -9, both optimisation paths, divergence, outputs."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import genzoo as gz
from genzoo.errors import ConfigError, TrainingDiverged

sys.path.insert(0, os.path.dirname(__file__))
import toys  # noqa: E402

HERE = Path(__file__).parent
torch.set_num_threads(1)


def train(cls=toys.ToyFlow, steps=12, out=None, **kw):
    kw = {"batch_size": 16, "lr": 1e-2, "seed": 3, "log_every": 2, "progress": False, **kw}
    model = toys.build(cls)
    trainer = gz.Trainer(model, toys.data(), steps=steps, out=out, **kw)
    return trainer.fit(), trainer


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), f"{k} differs"


@pytest.mark.slow
def test_resume_after_sigkill_is_bit_identical(tmp_path):
    # both families are killed in parallel subprocesses (starting Python + torch dominates the time)
    procs = {family: subprocess.Popen([sys.executable, str(HERE / "run_toy.py"), str(tmp_path / family), family,
                                       "14", "5", "8"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for family in ("flow", "gan")}
    for family, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == -9, err  # killed by SIGKILL at step 8, after the step-5 checkpoint
        check_resumed_run(tmp_path, family)


def check_resumed_run(tmp_path, family):
    cls = {"flow": toys.ToyFlow, "gan": toys.ToyGAN}[family]
    out = tmp_path / family
    state = json.loads((out / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 5
    assert not (out / "config.json").exists()

    resumed, trainer = train(cls, steps=14, out=out, checkpoint_every=5, resume=True)
    reference, _ = train(cls, steps=14, out=tmp_path / f"{family}-ref", checkpoint_every=5)
    assert_same_weights(resumed, reference)
    if family == "gan":
        assert torch.equal(resumed.buffer, reference.buffer)
    # the log holds each step once: lines logged after the checkpoint by the killed run were dropped
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(2, 15, 2))
    assert [h["step"] for h in trainer.history] == steps


def test_resume_in_process_matches_and_checks_settings(tmp_path):
    out = tmp_path / "run"
    stopped, t1 = train(steps=10, out=out, checkpoint_every=4,
                        callbacks=[lambda tr, step, logs: tr.stop() if step == 6 else None])
    assert t1.step == 6 and json.loads((out / "checkpoint/trainer_state.json").read_text())["step"] == 6
    with pytest.raises(ConfigError, match="batch_size=16, now batch_size=8"):
        train(steps=10, out=out, resume=True, batch_size=8)
    with pytest.raises(ConfigError, match="lr=0.01"):
        train(steps=10, out=out, resume=True, lr=1e-3)
    resumed, _ = train(steps=10, out=out, checkpoint_every=4, resume=True)
    reference, _ = train(steps=10)
    assert_same_weights(resumed, reference)


def test_manual_optimization_two_optimizers_schedule_and_train(tmp_path):
    model, trainer = train(toys.ToyGAN, steps=20, warmup=4, out=tmp_path / "gan")
    opt_g, opt_d = trainer.optimizers
    # both optimizers follow the schedule from their own base rate: warmup then cosine to 0.1 lr
    assert opt_g.param_groups[0]["lr"] == pytest.approx(1e-2 * 0.1)
    assert opt_d.param_groups[0]["lr"] == pytest.approx(2e-2 * 0.1)
    assert trainer.history[0]["lr"] == pytest.approx(1e-2 * 2 / 4)  # logged at step 2: multiplier 2/4
    assert {"d_loss", "g_loss", "lr", "it/s", "elapsed"} <= set(trainer.history[-1])
    for p0, p1 in zip(toys.build(toys.ToyGAN).parameters(), model.parameters()):
        assert not torch.equal(p0, p1)
    assert (tmp_path / "gan/samples/step_000020.png").is_file()


def test_training_is_reproducible_and_leaves_global_rng_alone():
    model = toys.build()
    torch.manual_seed(123)
    before = torch.get_rng_state()
    gz.Trainer(model, toys.data(), steps=6, batch_size=16, lr=1e-2, seed=3, progress=False).fit()
    assert torch.equal(torch.get_rng_state(), before)
    a, _ = train(steps=6)
    b, _ = train(steps=6)
    c, _ = train(steps=6, seed=4)
    assert_same_weights(a, b)
    assert not torch.equal(a.mu, c.mu)


def test_ema_weights_end_up_in_the_model_and_on_disk(tmp_path):
    out = tmp_path / "run"
    model, trainer = train(steps=30, out=out, ema_decay=0.9)
    ema = trainer.ema.state_dict()
    for name, p in model.named_parameters():
        assert torch.equal(p, ema[name])
    raw = gz.serialization.load_tensors(out / "checkpoint" / "model.safetensors")
    assert not torch.equal(raw["mu"], model.mu)  # the checkpoint keeps the raw weights
    with toys.registered(toys.ToyFlow):
        loaded = gz.load(out)
    assert_same_weights(loaded, model)
    no_ema, t2 = train(steps=30, ema_decay=None)
    assert t2.ema is None and torch.equal(no_ema.mu.detach(), raw["mu"])


def test_outputs_of_a_run(tmp_path):
    out = tmp_path / "run"
    _, trainer = train(steps=8, out=out, sample_every=4, log_every=4)
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in lines] == [4, 8] and lines == trainer.history
    assert {"step", "loss", "mse", "grad_norm", "lr", "it/s", "elapsed"} <= set(lines[0])
    assert (out / "loss.png").stat().st_size > 1000
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_000004.png", "step_000008.png"]
    assert {"trainer_state.json", "model.safetensors", "ema.safetensors", "optimizer.safetensors",
            "rng.safetensors", "extra.safetensors"} <= {p.name for p in (out / "checkpoint").iterdir()}
    assert not any(p.name.startswith(".") for p in out.iterdir())
    blob = b"".join(p.read_bytes() for p in (out / "checkpoint").iterdir())
    assert b"\x80\x04" not in blob[:2] and b"torch._utils" not in blob  # no pickle anywhere


def test_nan_loss_stops_without_touching_the_last_checkpoint(tmp_path):
    out = tmp_path / "run"
    model = toys.build(toys.Exploding)
    trainer = gz.Trainer(model, toys.data(), steps=20, batch_size=16, lr=1e-2, out=out,
                         checkpoint_every=5, progress=False)
    with pytest.raises(TrainingDiverged, match=r"loss became nan at step 7; the last good checkpoint in .*checkpoint is kept; lower --lr"):
        trainer.fit()
    assert json.loads((out / "checkpoint/trainer_state.json").read_text())["step"] == 5
    assert not (out / "config.json").exists() and not (out / "model.safetensors").exists()
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_bad_settings_are_one_line_config_errors(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for kw, msg in [({"out": blocker / "sub"}, "cannot write to"), ({"out": blocker}, "cannot write to"),
                    ({"steps": 0}, "steps=0 must be a positive integer"), ({"lr": -1.0}, "lr=-1.0"),
                    ({"schedule": "linear"}, "unknown schedule 'linear'"),
                    ({"resume": True}, "resume=True needs out="), ({"ema_decay": 1.0}, "ema_decay=1.0 is out of range"),
                    ({"grad_clip": -1}, "grad_clip=-1 is out of range")]:
        with pytest.raises(ConfigError, match=msg) as e:
            gz.Trainer(toys.build(), toys.data(), **{"steps": 5, **kw})
        assert "\n" not in str(e.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_out_dir(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(ConfigError, match="cannot write to .*ro"):
        gz.Trainer(toys.build(), toys.data(), steps=5, out=ro / "run")


def test_defaults_come_from_the_model_budget_and_small_data():
    class Budgeted(toys.ToyFlow):
        default_budget = {"steps": 3, "batch_size": 1000, "lr": 5e-3}

    _, trainer = train(Budgeted, steps=None, batch_size=None, lr=None)
    assert (trainer.steps, trainer.batch_size, trainer.lr) == (3, 1000, 5e-3)
    assert trainer.epoch == 2  # 200 examples < batch size: one full-data batch per epoch



def test_resume_takes_unset_budget_from_the_checkpoint(tmp_path):
    out = tmp_path / "run"
    train(steps=6, out=out, lr=3e-3, callbacks=[lambda tr, step, logs: tr.stop() if step == 3 else None])
    trainer = gz.Trainer(toys.build(), toys.data(), out=out, resume=True, seed=3, progress=False)
    assert (trainer.steps, trainer.batch_size, trainer.lr) == (6, 16, 3e-3)
    trainer.fit()
    assert trainer.step == 6


def test_non_finite_gradient_norm_stops():
    class BadGrad(toys.ToyFlow):
        def loss(self, batch):
            out = super().loss(batch)
            out["loss"] = out["loss"] + (self.mu - self.mu.detach()).abs().sqrt().sum()  # d sqrt(0) = inf
            return out

    with pytest.raises(TrainingDiverged, match=r"^gradient norm became nan at step 1; lower --lr \(now 0.01\)"):
        train(BadGrad, steps=3)


def test_bf16_autocast_trains_and_keeps_float32_weights():
    model, trainer = train(steps=8, bf16=True)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in trainer.history)
    reference, _ = train(steps=8)
    assert not torch.equal(model.mu, reference.mu)  # autocast really changed the arithmetic


def test_gaussian_family_end_to_end(tmp_path):
    data = gz.load_dataset("8gaussians", split="train")
    model = gz.build("gaussian", data, n_components=8)
    out = tmp_path / "g"
    trainer = gz.Trainer(model, data, steps=60, out=out, progress=False, seed=0)
    trained = trainer.fit()
    assert len(trainer.history) == 60 and all(math.isfinite(h["loss"]) for h in trainer.history)
    loaded = gz.load(out)
    x = data.x[:100]
    assert torch.equal(loaded.log_prob(x), trained.log_prob(x))
    assert (out / "samples" / "step_000060.png").is_file()


@pytest.mark.parametrize("clip, expected", [(0.5, 0.5), (None, 30.0)])
def test_gradient_clipping_scales_to_the_max_norm(clip, expected):
    class Linear(toys.ToyFlow):
        def loss(self, batch):  # gradient of mu is (30, 0) for every batch: norm 30
            return {"loss": 30.0 * self.mu[0] + 0.0 * self.net(batch).sum()}

        def configure_optimizers(self, lr, weight_decay=0.0, betas=None):
            return [torch.optim.SGD(self.parameters(), lr=lr)]

    model = toys.build(Linear, dropout=0.0)
    trainer = gz.Trainer(model, toys.data(), steps=1, batch_size=16, lr=1.0, warmup=0, grad_clip=clip,
                         ema_decay=None, progress=False)
    trainer.fit()
    assert trainer.history[0]["grad_norm"] == pytest.approx(30.0)
    assert model.mu.detach().norm().item() == pytest.approx(expected, rel=1e-5)  # SGD, lr 1: the step is -g


def test_text_samples_are_decoded_with_the_dataset_tokenizer(tmp_path):
    from genzoo.data.base import GenDataset

    class Tok:
        vocab_size = 5

        def decode(self, ids):
            return "".join("abcde"[i] for i in ids)

    class Unigram(toys.ToyFlow):
        def loss(self, batch):
            logits = self.net(torch.ones(1, 2)).repeat(1, 3)[:, :5]
            return {"loss": torch.nn.functional.cross_entropy(logits.expand(batch.numel(), 5), batch.reshape(-1))}

        def sample(self, n, *, generator=None, **kw):
            return torch.randint(0, 5, (n, 6), generator=generator)

    data = GenDataset("tiny-text", "train", "text", torch.randint(0, 5, (40, 6)), tokenizer=Tok())
    gz.Trainer(toys.build(Unigram), data, steps=2, batch_size=8, out=tmp_path, progress=False).fit()
    text = (tmp_path / "samples" / "step_000002.txt").read_text()
    assert text.count("--- sample") == 4 and set(text.split("\n")[1]) <= set("abcde")


def test_a_failing_sampler_warns_and_training_goes_on(tmp_path):
    class BadSampler(toys.ToyFlow):
        def sample(self, n, *, generator=None, **kw):
            raise RuntimeError("boom")

    with pytest.warns(UserWarning, match=r"sampling at step 1 failed \(RuntimeError: boom\); training goes on without") as record:
        _, trainer = train(BadSampler, steps=4, out=tmp_path, sample_every=1)
    assert len(record) == 1 and trainer.step == 4 and (tmp_path / "model.safetensors").is_file()
    assert not (tmp_path / "samples").exists()


def test_resume_names_only_the_model_settings_that_changed(tmp_path):
    data, out = gz.load_dataset("moons"), tmp_path / "run"
    stop = [lambda tr, step, logs: tr.stop() if step == 2 else None]
    gz.Trainer(gz.build("gaussian", data, n_components=3), data, steps=6, out=out, progress=False, callbacks=stop).fit()
    with pytest.raises(ConfigError) as info:
        gz.Trainer(gz.build("gaussian", data, n_components=4), data, steps=6, out=out, progress=False, resume=True).fit()
    assert 'started with model_config={"n_components": 3}, now model_config={"n_components": 4}' in str(info.value)
