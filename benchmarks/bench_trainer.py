"""Per-step cost of genzoo's Trainer against a bare PyTorch loop on the same model, in one process.

    python benchmarks/bench_trainer.py [--steps 400] [--threads 1]
    python benchmarks/bench_trainer.py --parts     # each added piece timed alone

Workload: the zuko_moons anchor's shape (an MLP 2 -> 64 -> 64 -> 2 with a Gaussian-likelihood loss,
batch 256, lr 1e-3) on 8gaussians-like data. The bare loop is the minimal AdamW loop (random batch
indices, zero_grad, backward, step). The Trainer adds the LR schedule, grad-norm clipping, the EMA,
the NaN check (one host sync a step) and logging; with ``out`` it also writes checkpoints every
100 steps, metrics.jsonl and the loss PNG. Times are medians over 3 repeats, interleaved.
"""
from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from dataclasses import dataclass

import torch
from torch import nn

import genzoo as gz
from genzoo.model import GenerativeModel, ModelConfig


@dataclass
class MLPConfig(ModelConfig):
    hidden: int = 64


class MLPDensity(GenerativeModel):
    """A heteroscedastic Gaussian whose mean and log-scale are an MLP of a random context."""

    config_class = MLPConfig

    def __init__(self, config):
        super().__init__(config)
        h = config.hidden
        self.net = nn.Sequential(nn.Linear(2, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 4))

    def loss(self, batch):
        mu, log_s = self.net(batch.flip(-1)).chunk(2, -1)
        nll = 0.5 * ((batch - mu) * torch.exp(-log_s)) ** 2 + log_s + 0.5 * math.log(2 * math.pi)
        return {"loss": nll.sum(-1).mean()}


def bare(model, x, steps, bs, lr):
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.randint(0, len(x), (bs,), generator=g)
        loss = model.loss(x[idx])["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def trainer(model, x, steps, bs, lr, out=None, **kw):
    gz.Trainer(model, x, steps=steps, batch_size=bs, lr=lr, progress=False, out=out,
               checkpoint_every=100, **kw).fit()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--parts", action="store_true", help="time the pieces the Trainer adds, one by one")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.parts:
        return parts()
    x = torch.randn(20000, 2)
    runs = {
        "bare AdamW loop": lambda m: bare(m, x, args.steps, 256, 1e-3),
        "Trainer (no out)": lambda m: trainer(m, x, args.steps, 256, 1e-3),
        "Trainer (no out, no EMA)": lambda m: trainer(m, x, args.steps, 256, 1e-3, ema_decay=None),
        "Trainer (out: ckpt/100, log, png)": lambda m: trainer(m, x, args.steps, 256, 1e-3, out=tempfile.mkdtemp()),
    }
    times = {k: [] for k in runs}
    for _ in range(3):
        for name, fn in runs.items():
            model = MLPDensity(MLPConfig())
            t0 = time.perf_counter()
            fn(model)
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["bare AdamW loop"])
    print(f"{'run':36s} {'steps/s':>9s} {'ms/step':>8s} {'vs bare':>8s}")
    for name, ts in times.items():
        t = statistics.median(ts)
        print(f"{name:36s} {args.steps / t:9.0f} {1000 * t / args.steps:8.3f} {t / base:7.2f}x")


def parts():
    """Cost of each piece the Trainer adds to a step, timed alone (min over 5 repeats of 300 calls)."""
    import timeit

    from genzoo.training.ema import EMA
    from genzoo.training.schedule import LRLambda

    model, x = MLPDensity(MLPConfig()), torch.randn(256, 2)
    model.loss(x)["loss"].backward()
    params = list(model.parameters())
    grads = [p.grad for p in params]
    opt = torch.optim.AdamW(params, lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, LRLambda(steps=10**9, warmup=100, schedule="cosine"))
    ema = EMA(model, 0.999)

    def step():
        loss = model.loss(x)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()

    pieces = {"bare step (fwd+bwd+AdamW)": step, "EMA update": lambda: ema.update(5),
              "grad norm (get_total_norm + sync)": lambda: float(torch.nn.utils.get_total_norm(grads)),
              "clip_grad_norm_ (not used)": lambda: float(torch.nn.utils.clip_grad_norm_(params, 1.0)),
              "LambdaLR.step": sched.step}
    print(f"{'piece':36s} {'us/call':>9s}")
    for name, fn in pieces.items():
        t = min(timeit.repeat(fn, number=300, repeat=5)) / 300
        print(f"{name:36s} {1e6 * t:9.1f}")


if __name__ == "__main__":
    main()
