"""EBM on 2-D data: test NLL with log Z from grid integration and from AIS, and sample plots.

    python benchmarks/ebm_2d.py --data 8gaussians,moons,checkerboard --objectives pcd,dsm --steps 1000
Prints a markdown table; writes scatter plots of samples to --plots (default benchmarks/results/ebm_plots).
Runs single-threaded (the machine is shared).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import genzoo as gz


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="8gaussians,moons,checkerboard")
    p.add_argument("--objectives", default="pcd,dsm")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--plots", default="benchmarks/results/ebm_plots")
    p.add_argument("--set", action="append", default=[])
    args = p.parse_args()
    torch.set_num_threads(1)
    extra = dict(kv.split("=", 1) for kv in args.set)
    Path(args.plots).mkdir(parents=True, exist_ok=True)
    print("| data | objective | steps | NLL (grid log Z) | NLL (AIS log Z ± se) | true NLL | train s | AIS s |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.data.split(","):
        train, test = gz.load_dataset(name, split="train"), gz.load_dataset(name, split="test")
        for obj in args.objectives.split(","):
            model = gz.build("ebm", data=train, objective=obj, **extra)
            t0 = time.time()
            gz.Trainer(model, train, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=0,
                       progress=False, ema_decay=None).fit()
            t_train = time.time() - t0
            model.eval()
            with torch.no_grad():
                e = model.energy(test.x).double().mean().item()
            grid, _ = model.log_partition("grid")
            t0 = time.time()
            ais, se = model.log_partition("ais")
            t_ais = time.time() - t0
            true = -test.log_density(test.x).double().mean().item() if test.has_density else float("nan")
            print(f"| {name} | {obj} | {args.steps} | {e + grid:.3f} | {e + ais:.3f} ± {se:.3f} | {true:.3f} | {t_train:.0f} | {t_ais:.0f} |", flush=True)
            s = model.sample(2000, generator=torch.Generator().manual_seed(0))
            save_scatter(s, test.x[:2000], Path(args.plots) / f"ebm_{name}_{obj}.png", f"EBM ({obj}) on {name}")


def save_scatter(samples, data, path, title) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(6, 3), sharex=True, sharey=True)
    for ax, pts, t in zip(axes, (data, samples), ("data", "samples")):
        ax.scatter(pts[:, 0], pts[:, 1], s=1)
        ax.set_title(t, fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    main()
