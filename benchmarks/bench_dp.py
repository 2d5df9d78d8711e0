"""DP-SGD step cost: genzoo's vmap engine against Opacus' hook-based PrivacyEngine and no privacy.

Anchor (/work/shared/bench/anchors/opacus_dp_step.py): an MLP 64-512-512-64, 8192 examples, batch 256,
MSE, SGD lr 0.1, noise multiplier 1.0, clip 1.0. Both private runs use Poisson sampling at
q = 256/8192 with σ = 1.0, so every step spends the same privacy: ε after the timed steps is printed
for both (Opacus' RDP accountant). Rounds interleave the three so machine load hits them alike.

    PYTHONPATH=src python benchmarks/bench_dp.py --rounds 3 --steps 16
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
from torch import nn

N, BATCH, SIGMA, CLIP = 8192, 256, 1.0, 1.0


def mlp():
    return nn.Sequential(nn.Linear(64, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 64))


class RowMSE(nn.Module):
    """MSE with a per-example ``reduction="none"`` (Opacus' ghost clipping needs a loss of shape (B,))."""

    reduction = "mean"

    def forward(self, out, target):
        per_example = (out - target).pow(2).mean(1)
        return {"none": per_example, "sum": per_example.sum()}.get(self.reduction, per_example.mean())


def plain_steps(data, steps):
    net = mlp()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x, y = data.tensors
    t = time.perf_counter()
    for k in range(steps):
        i = slice(k * BATCH % N, k * BATCH % N + BATCH)
        opt.zero_grad()
        nn.functional.mse_loss(net(x[i]), y[i]).backward()
        opt.step()
    return (time.perf_counter() - t) / steps, None


def opacus_steps(data, steps, mode="hooks"):
    from opacus import PrivacyEngine

    net, engine = mlp(), PrivacyEngine(accountant="rdp")
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    loader = torch.utils.data.DataLoader(data, batch_size=BATCH)
    kw = dict(module=net, optimizer=opt, data_loader=loader, noise_multiplier=SIGMA, max_grad_norm=CLIP,
              grad_sample_mode=mode)
    criterion = nn.functional.mse_loss
    if mode == "ghost":  # ghost clipping (Opacus' fast gradient clipping) wraps the loss: two backward passes
        net, opt, criterion, loader = engine.make_private(criterion=RowMSE(), **kw)
    else:
        net, opt, loader = engine.make_private(**kw)
    it, t, done = iter(loader), time.perf_counter(), 0
    while done < steps:
        xb, yb = next(it)
        opt.zero_grad()
        criterion(net(xb), yb).backward()
        opt.step()
        done += 1
    return (time.perf_counter() - t) / steps, engine.get_epsilon(1e-5)


def genzoo_steps(data, steps, engine_name=None):
    """The Trainer's DP step (``private_gradients``) with the engine it picks (ghost here) or ``engine_name``."""
    from genzoo.privacy import epsilon, poisson_indices
    from genzoo.privacy.dp import make_engine, private_gradients

    net = mlp()
    x, y = data.tensors
    opt, gen, q = torch.optim.SGD(net.parameters(), lr=0.1), torch.Generator().manual_seed(0), BATCH / N
    loss = lambda b: {"loss": nn.functional.mse_loss(net(b[0]), b[1])}  # noqa: E731
    t, engine = time.perf_counter(), None
    for _ in range(steps):
        idx = poisson_indices(N, q, gen)
        engine = engine or make_engine(net, loss, (x[idx], y[idx]), CLIP, engine_name)
        private_gradients(engine, (x[idx], y[idx]), CLIP, SIGMA, q * N)
        opt.step()
    return (time.perf_counter() - t) / steps, epsilon("rdp", [[SIGMA, q, steps]], 1e-5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--opacus-modes", default="hooks", help="comma-separated Opacus grad_sample_mode values")
    args = ap.parse_args()
    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(N, 64), torch.randn(N, 64))
    runs = {"no privacy": lambda: plain_steps(data, args.steps), "genzoo DP-SGD": lambda: genzoo_steps(data, args.steps),
            "genzoo DP-SGD, vmap engine": lambda: genzoo_steps(data, args.steps, "vmap")}
    runs.update({f"opacus {m}": (lambda m=m: opacus_steps(data, args.steps, m)) for m in args.opacus_modes.split(",")})
    for fn in runs.values():  # warm-up: imports, first-call tracing
        fn()
    times: dict[str, list[float]] = {k: [] for k in runs}
    eps: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, fn in runs.items():
            sec, e = fn()
            times[name].append(sec)
            if e is not None:
                eps[name] = e
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"load {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    med = {k: statistics.median(v) for k, v in times.items()}
    print("| run | ms/step (median) | per round | x no privacy | epsilon after the steps |")
    print("|---|---|---|---|---|")
    for k, v in times.items():
        print(f"| {k} | {med[k] * 1e3:.1f} | {', '.join(f'{s * 1e3:.1f}' for s in v)} | {med[k] / med['no privacy']:.2f}x | "
              f"{eps.get(k, float('nan')):.4f} |")
    for k in runs:
        if k.startswith("opacus"):
            ratios = [a / b for a, b in zip(times[k], times["genzoo DP-SGD"])]  # steps/s ratio per round
            print(f"genzoo DP-SGD steps/s vs {k}: {med[k] / med['genzoo DP-SGD']:.2f}x "
                  f"(per round {', '.join(f'{r:.2f}' for r in ratios)})")


if __name__ == "__main__":
    main()
