"""Schedule, EMA, checkpoint files and plotting, checked against hand-computed values."""
from __future__ import annotations

import math
import os
import shutil
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import genzoo as gz
from genzoo import plotting
from genzoo.errors import CheckpointError, DataError
from genzoo.training.checkpoint import find_checkpoint, optimizer_from_tensors, optimizer_to_tensors
from genzoo.training.ema import EMA
from genzoo.training.schedule import default_warmup, lr_multiplier

sys.path.insert(0, os.path.dirname(__file__))
import toys  # noqa: E402


# --- schedule ------------------------------------------------------------------------------
def test_warmup_then_cosine_to_a_tenth():
    f = lambda t: lr_multiplier(t, steps=110, warmup=10)  # noqa: E731
    assert [f(t) for t in range(3)] == [0.1, 0.2, pytest.approx(0.3)]
    assert f(9) == 1.0 and f(10) == 1.0
    assert f(60) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))  # halfway: 0.55
    assert f(110) == pytest.approx(0.1)
    assert all(f(t) >= f(t + 1) for t in range(10, 110))
    assert lr_multiplier(50, steps=110, warmup=10, schedule="constant") == 1.0
    assert lr_multiplier(0, steps=1, warmup=0) == 1.0
    assert default_warmup(100) == 5 and default_warmup(10_000) == 100 and default_warmup(10) == 0


# --- EMA -----------------------------------------------------------------------------------
def test_ema_follows_its_recursion_exactly():
    lin = torch.nn.Linear(2, 1).double()
    ema = EMA(lin, decay=0.9)
    expected = lin.weight.detach().clone()
    for step in range(1, 40):
        with torch.no_grad():
            lin.weight.add_(0.1 * step)
        ema.update(step)
        d = min(0.9, (1 + step) / (10 + step))
        expected = d * expected + (1 - d) * lin.weight.detach()
    assert torch.allclose(ema.shadow["weight"], expected, rtol=0, atol=1e-12)
    raw = lin.weight.detach().clone()
    with ema.swapped_in():
        assert torch.equal(lin.weight, ema.shadow["weight"])
    assert torch.equal(lin.weight, raw)
    with pytest.raises(gz.ConfigError, match="ema_decay=1.0"):
        EMA(lin, decay=1.0)
    with pytest.raises(CheckpointError, match="EMA weights do not match"):
        ema.load_state_dict({"weight": raw})


# --- checkpoint pieces -----------------------------------------------------------------------
def test_optimizer_state_round_trips_through_tensors_and_json():
    import json

    def make():
        torch.manual_seed(0)
        m = toys.build(toys.ToyGAN)
        return m, m.configure_optimizers(lr=1e-2, weight_decay=0.1)

    m1, opts1 = make()
    for _ in range(3):
        m1.training_step(toys.data()[:16], 0, optimizers=opts1)
    tensors, desc = optimizer_to_tensors(opts1)
    desc = json.loads(json.dumps(desc))
    m2, opts2 = make()
    m2.load_state_dict(m1.state_dict())
    optimizer_from_tensors(opts2, tensors, desc, "optimizer.safetensors")
    for o1, o2 in zip(opts1, opts2):
        s1, s2 = o1.state_dict(), o2.state_dict()
        assert s1["param_groups"] == s2["param_groups"]  # betas are tuples again
        for pid in s1["state"]:
            for k, v in s1["state"][pid].items():
                assert torch.equal(v, s2["state"][pid][k])
    with pytest.raises(CheckpointError, match="checkpoint has 2 optimizers, the model configures 1"):
        optimizer_from_tensors(opts2[:1], tensors, desc, "optimizer.safetensors")


def test_resume_survives_a_crash_between_the_two_renames(tmp_path):
    # atomic_dir moves the old checkpoint aside before renaming the new one in; a kill in between
    # leaves only ".checkpoint.old-PID": resume must find it
    out = tmp_path / "run"
    kw = dict(batch_size=16, lr=1e-2, seed=1, checkpoint_every=3, progress=False)
    stopper = [lambda tr, step, logs: tr.stop() if step == 3 else None]
    gz.Trainer(toys.build(), toys.data(), steps=6, out=out, callbacks=stopper, **kw).fit()
    os.replace(out / "checkpoint", out / ".checkpoint.old-99999")
    (out / ".checkpoint.tmp-abc").mkdir()  # a half-written save
    assert find_checkpoint(out) == out / ".checkpoint.old-99999"
    resumed = gz.Trainer(toys.build(), toys.data(), steps=6, out=out, resume=True, **kw).fit()
    reference = gz.Trainer(toys.build(), toys.data(), steps=6, **kw).fit()
    assert all(torch.equal(a, b) for a, b in zip(resumed.state_dict().values(), reference.state_dict().values()))
    assert not (out / ".checkpoint.tmp-abc").exists()


def test_corrupt_checkpoint_is_a_one_line_error(tmp_path):
    out = tmp_path / "run"
    gz.Trainer(toys.build(), toys.data(), steps=2, batch_size=16, out=out, progress=False).fit()
    data = (out / "checkpoint/optimizer.safetensors").read_bytes()
    (out / "checkpoint/optimizer.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="optimizer.safetensors: corrupt or truncated"):
        gz.Trainer(toys.build(), toys.data(), steps=2, batch_size=16, out=out, resume=True, progress=False).fit()
    shutil.rmtree(out / "checkpoint")
    # no checkpoint at all: resume starts from step 0
    t = gz.Trainer(toys.build(), toys.data(), steps=2, batch_size=16, out=out, resume=True, progress=False)
    t.fit()
    assert t.step == 2


# --- plotting ------------------------------------------------------------------------------
def test_image_grid_pixels():
    imgs = torch.stack([torch.full((1, 2, 2), -1.0), torch.full((1, 2, 2), 1.0), torch.zeros(1, 2, 2)])
    grid = plotting.image_grid(imgs, nrow=2, pad=1)
    assert grid.shape == (2 * 3 + 1, 2 * 3 + 1, 1)
    assert (grid[1:3, 1:3] == 0).all() and (grid[1:3, 4:6] == 255).all() and (grid[4:6, 1:3] == 128).all()
    assert (grid[0] == 255).all() and (grid[4:6, 4:6] == 255).all()  # padding and the empty cell are white
    rgb = plotting.image_grid(torch.rand(5, 3, 4, 4) * 2 - 1)
    assert rgb.shape == (2 * 5 + 1, 3 * 5 + 1, 3)  # 5 images: 3 per row, 2 rows
    with pytest.raises(DataError, match="1 or 3 channels"):
        plotting.image_grid(torch.zeros(2, 2, 4, 4))


def test_save_samples_each_kind(tmp_path):
    p = plotting.save_samples(torch.rand(64, 1, 8, 8) * 2 - 1, tmp_path / "img.png")
    with Image.open(p) as im:
        assert im.size == (73 * 3, 73 * 3)  # 8x8 cells of 8 px + padding, blown up 3x
        assert np.asarray(im)[0, 0] == 255
    p = plotting.save_samples(torch.randn(100, 2), tmp_path / "pts.png", reference=torch.randn(50, 2))
    assert p.stat().st_size > 1000

    class Tok:
        def decode(self, ids):
            return "".join(chr(ord("a") + i) for i in ids)

    p = plotting.save_samples(torch.tensor([[0, 1, 2], [3, 4, 5]]), tmp_path / "text.png", tokenizer=Tok())
    assert p.name == "text.txt" and p.read_text() == "--- sample 0 ---\nabc\n--- sample 1 ---\ndef\n"
    with pytest.raises(DataError, match="cannot plot samples of shape"):
        plotting.save_samples(torch.zeros(2, 3, 4), tmp_path / "x.png")


def test_loss_curve_and_density(tmp_path):
    hist = [{"step": s, "d_loss": 1.0 / s, "g_loss": 2.0, "lr": 0.1} for s in range(1, 20)]
    assert plotting.save_loss_curve(hist, tmp_path / "loss.png").stat().st_size > 1000
    calls = []

    def logp(x):
        calls.append(len(x))
        return -0.5 * (x ** 2).sum(-1) - math.log(2 * math.pi)

    p = plotting.save_density(logp, tmp_path / "d.png", bounds=(-3, 3, -3, 3), resolution=50, chunk=1000)
    assert sum(calls) == 2500 and max(calls) == 1000
    with Image.open(p) as im:
        assert im.size == (400, 400)
