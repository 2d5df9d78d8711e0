"""Eager training without importing torch._dynamo (eager_optim.py), and the default sample-grid cadence."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from genzoo.training.eager_optim import eager_step

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _params(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(5, 3, generator=g)), torch.nn.Parameter(torch.randn(3, generator=g))]


EQUAL_STEPS = """
import sys, torch
from genzoo.training.eager_optim import eager_step, without_dynamo_import

def params():
    g = torch.Generator().manual_seed(0)
    return [torch.nn.Parameter(torch.randn(5, 3, generator=g)), torch.nn.Parameter(torch.randn(3, generator=g))]

def run(make, eager):
    ps = params()
    with without_dynamo_import():
        opt = make(ps)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))
        for step in range(4):
            g = torch.Generator().manual_seed(100 + step)
            for p in ps:
                p.grad = torch.randn(p.shape, generator=g)
            eager_step(opt) if eager else opt.step()
            assert opt._opt_called
            sched.step()
            opt.zero_grad()
        opt.state_dict()
    return [p.detach().clone() for p in ps]

makers = [lambda p: torch.optim.AdamW(p, 1e-2, weight_decay=0.1), lambda p: torch.optim.Adam(p, 1e-2, foreach=False),
          lambda p: torch.optim.SGD(p, 1e-2, momentum=0.9)]
eager = [run(m, True) for m in makers]
assert "torch._dynamo" not in sys.modules, "the eager path imported dynamo"
plain = [getattr(torch.optim.Optimizer, n).__wrapped__ for n in ("add_param_group", "zero_grad", "state_dict")]
assert not any(hasattr(fn, "__dynamo_disable") for fn in plain), "the cache was left filled"
reference = [run(m, False) for m in makers]  # opt.step() imports dynamo
assert "torch._dynamo" in sys.modules
for a, b in zip(eager, reference):
    assert all(torch.equal(x, y) for x, y in zip(a, b))
print("ok")
"""


def test_eager_step_equals_step_without_importing_dynamo():
    done = subprocess.run([sys.executable, "-c", EQUAL_STEPS], env=dict(os.environ, PYTHONPATH=SRC),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_eager_step_keeps_hooks():
    params = _params()
    opt = torch.optim.AdamW(params, 1e-2)
    calls = []
    opt.register_step_post_hook(lambda *a: calls.append(1))
    for p in params:
        p.grad = torch.ones_like(p)
    eager_step(opt)
    assert calls == [1]  # with a hook registered the ordinary opt.step() runs


def test_an_eager_run_never_imports_dynamo(tmp_path):
    """The whole train command's path (Trainer with outputs, checkpoints, samples) in a fresh process."""
    code = textwrap.dedent(f"""
        import sys, genzoo as gz
        from genzoo.data import load_dataset
        ds = load_dataset("moons")
        gz.Trainer(gz.build("nsf", ds), ds, steps=6, batch_size=32, out={str(tmp_path / 'run')!r},
                   checkpoint_every=3, progress=False).fit()
        print("torch._dynamo" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=SRC), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False"
    assert (tmp_path / "run" / "samples" / "step_000006.png").is_file()


def test_default_grids_mid_run_are_throttled_explicit_ones_are_not(tmp_path):
    import genzoo as gz
    from genzoo.data import load_dataset

    ds = load_dataset("moons")
    common = dict(steps=4, batch_size=16, progress=False, checkpoint_every=0)
    gz.Trainer(gz.build("gaussian", ds), ds, out=tmp_path / "default", **common).fit()
    t = gz.Trainer(gz.build("gaussian", ds), ds, out=tmp_path / "default2", **common)
    t.sample_every = 2  # what max(1000, steps / 4) is on a long run, but within 30 s of the last grid
    t.fit()
    gz.Trainer(gz.build("gaussian", ds), ds, out=tmp_path / "explicit", sample_every=2, **common).fit()
    names = {d: sorted(p.name for p in (tmp_path / d / "samples").iterdir()) for d in ("default", "default2", "explicit")}
    assert names == {"default": ["step_000004.png"], "default2": ["step_000004.png"],
                     "explicit": ["step_000002.png", "step_000004.png"]}
