"""Extending a run (resume with more steps, LR re-planned) and starting one from a saved model."""
from __future__ import annotations

import json
import os
import sys

import pytest
import torch

import genzoo as gz
from genzoo.errors import ConfigError
from genzoo.training.schedule import extend_plan, lr_multiplier, planned_multiplier

sys.path.insert(0, os.path.dirname(__file__))
import toys  # noqa: E402

torch.set_num_threads(1)


def train(steps, out=None, cls=toys.ToyFlow, **kw):
    kw = {"batch_size": 16, "lr": 1e-2, "seed": 3, "log_every": 1, "progress": False, "sample_every": 0, **kw}
    trainer = gz.Trainer(toys.build(cls), toys.data(), steps=steps, out=out, **kw)
    return trainer.fit(), trainer


def same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_plan_is_continuous_then_follows_the_longer_schedule():
    plan = extend_plan([{"from_step": 0, "steps": 30, "warmup": 3}], 30, 60, 3)
    assert plan == [{"from_step": 0, "steps": 30, "warmup": 3}, {"from_step": 30, "steps": 60, "warmup": 3}]
    old = lambda t: lr_multiplier(t, steps=30, warmup=3)  # noqa: E731
    new = lambda t: lr_multiplier(t, steps=60, warmup=3)  # noqa: E731
    assert [planned_multiplier(t, plan) for t in range(30)] == [old(t) for t in range(30)]
    assert planned_multiplier(30, plan) == pytest.approx(old(30)) == pytest.approx(0.1)  # continuous at the resume step
    assert planned_multiplier(31, plan) == pytest.approx(0.1 + (new(33) - 0.1) / 3)    # linear re-warmup ...
    assert [planned_multiplier(t, plan) for t in range(33, 61)] == [new(t) for t in range(33, 61)]  # ... then f_60
    # extending again from the same step replaces the segment; from a later one appends
    assert extend_plan(plan, 30, 90, 3)[-1] == {"from_step": 30, "steps": 90, "warmup": 3} and len(extend_plan(plan, 30, 90, 3)) == 2
    assert len(extend_plan(plan, 45, 90, 3)) == 3
    assert extend_plan(plan, 0, 90, 3) == [{"from_step": 0, "steps": 90, "warmup": 3}]


def test_extending_a_finished_run(tmp_path, capsys):
    out = tmp_path / "run"
    _, first = train(12, out, warmup=2)
    config_before = (out / "config.json").read_bytes()
    with pytest.raises(ConfigError, match="planned for steps=12 .12 done., now steps=8; steps can only grow"):
        train(8, out, resume=True)
    assert (out / "config.json").read_bytes() == config_before  # a refused extension writes nothing
    assert json.loads((out / "checkpoint/trainer_state.json").read_text())["step"] == 12
    capsys.readouterr()
    model, trainer = train(24, out, resume=True)
    said = capsys.readouterr().out
    assert "extending the run from 12 to 24 steps at step 12" in said and said.count("\n") == 1
    assert trainer.step == 24 and trainer.warmup == 2
    plan = [{"from_step": 0, "steps": 12, "warmup": 2}, {"from_step": 12, "steps": 24, "warmup": 2}]
    state = json.loads((out / "checkpoint/trainer_state.json").read_text())
    assert state["step"] == 24 and state["lr_plan"] == plan and state["config"]["steps"] == 24
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in lines] == list(range(1, 25))  # appended after the first 12
    for e in lines:  # the logged rate is the one the step used: lr * g(step - 1)
        assert e["lr"] == pytest.approx(1e-2 * planned_multiplier(e["step"] - 1, plan)), e["step"]
    assert lines[12]["lr"] == pytest.approx(1e-2 * lr_multiplier(12, steps=12, warmup=2))  # continuous
    with toys.registered(toys.ToyFlow):
        assert same_weights(gz.load(out), model)  # the final model is the extended one
    assert not same_weights(model, first.model)


def test_an_interrupted_extension_resumes_bit_identically(tmp_path):
    for name in ("a", "b"):
        train(8, tmp_path / name, checkpoint_every=4)
    whole, _ = train(16, tmp_path / "a", resume=True, checkpoint_every=4)
    train(16, tmp_path / "b", resume=True, checkpoint_every=4, callbacks=[lambda tr, s, logs: tr.stop() if s == 11 else None])
    resumed, trainer = train(16, tmp_path / "b", resume=True, checkpoint_every=4)
    assert trainer.lr_plan == [{"from_step": 0, "steps": 8, "warmup": 0}, {"from_step": 8, "steps": 16, "warmup": 0}]
    assert same_weights(whole, resumed)


def test_a_same_n_resume_is_still_bit_identical_and_plans_one_segment(tmp_path):
    out = tmp_path / "run"
    train(20, out, checkpoint_every=5, callbacks=[lambda tr, s, logs: tr.stop() if s == 7 else None])
    resumed, trainer = train(20, out, resume=True, checkpoint_every=5)
    reference, _ = train(20)
    assert same_weights(resumed, reference)
    assert trainer.lr_plan == [{"from_step": 0, "steps": 20, "warmup": 1}]


def test_init_from_copies_the_weights_and_starts_a_new_run(tmp_path):
    source, _ = train(10, tmp_path / "src")
    with toys.registered(toys.ToyFlow):
        model = toys.build(toys.ToyFlow)
        assert not same_weights(model, source)
        trainer = gz.Trainer(model, toys.data(), steps=5, batch_size=16, lr=1e-2, seed=3, progress=False,
                             sample_every=0, out=tmp_path / "new", init_from=tmp_path / "src")
        assert same_weights(model, gz.load(tmp_path / "src"))  # step 0: the source's (EMA) weights
        trainer.fit()
    state = json.loads((tmp_path / "new/checkpoint/trainer_state.json").read_text())
    assert state["step"] == 5 and state["init_from"] == str(tmp_path / "src")
    steps = [json.loads(x)["step"] for x in (tmp_path / "new/metrics.jsonl").read_text().splitlines()]
    assert steps[0] == 1 and steps[-1] == 5  # a new run: its own step counter (and optimizer) from 0
    with pytest.raises(ConfigError, match="use one of them"):
        gz.Trainer(toys.build(toys.ToyFlow), toys.data(), steps=5, out=tmp_path / "src", resume=True, init_from=source)


def test_init_from_errors_name_the_family_or_the_first_weight(tmp_path):
    source = toys.build(toys.ToyFlow)
    with pytest.raises(ConfigError, match="holds a '_toy_flow' model, this run trains '_toy_gan'"):
        gz.Trainer(toys.build(toys.ToyGAN), toys.data(), steps=2, init_from=source)
    wider = toys.ToyFlow(toys.ToyConfig(hidden=16))
    with pytest.raises(ConfigError, match=r"weight 'net.0.weight' has shape \(8, 2\) there, \(16, 2\) here "
                                          r"\(the configs differ in hidden: 8 there, 16 here\)"):
        gz.Trainer(wider, toys.data(), steps=2, out=tmp_path / "never", init_from=source)
    assert not (tmp_path / "never").exists()
