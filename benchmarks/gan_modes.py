"""Mode-collapse experiment for the GAN family on the 8- and 25-Gaussian mixtures.

Each loss × each mitigation, same seeds and step budget; prints a markdown table of
modes covered (≥ 1% of 10k samples within 3σ) and the fraction of high-quality samples (within
3σ of any mode). Usage:
    python benchmarks/gan_modes.py --data 25gaussians --steps 3000 [--losses ns,hinge] [--mitigations none,mbstd]
        [--jsonl benchmarks/results/gan_25gaussians.jsonl]   # append each cell; skip cells already there
    python benchmarks/gan_modes.py --table benchmarks/results/gan_25gaussians.jsonl   # the markdown grid
Cells run mitigation by mitigation (every loss of a column, then the next column). With ``--jsonl``
each finished cell is appended at once and a cell already in the file with the same budget is
skipped, so a killed grid resumes where it stopped. Runs single-threaded (torch threads 1): the
machine is shared.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch

import genzoo as gz
from genzoo.models.gan_mitigations import mode_coverage

MITIGATIONS = {
    "none": {},
    "sn": {"spectral_norm": True},
    "minibatch-disc": {"minibatch_disc": 8},
    "mbstd": {"mbstd": True},
    "unrolled": {"unrolled": 3},
    "mode-seeking": {"mode_seeking": 0.1},  # λ = 1 dominated the adversarial loss (1-5/8 modes)
    "mgan": {"n_generators": 5},
}
LOSSES = ["minimax", "ns", "hinge", "lsgan", "wgan-gp"]


def mixture(name: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(samples, modes, std): the built-in dataset when present, else the standard construction."""
    try:
        ds = gz.load_dataset(name, split="train")
        return ds.x[:n], torch.as_tensor(ds.info["modes"], dtype=torch.float32), float(ds.info["mode_std"])
    except Exception:
        pass
    if name == "8gaussians":
        ang = torch.arange(8) * (2 * math.pi / 8)
        modes, std = 2.0 * torch.stack([ang.cos(), ang.sin()], 1), 0.02
    else:
        g = torch.arange(-2, 3, dtype=torch.float32) * 2.0
        modes, std = torch.cartesian_prod(g, g), 0.05
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(modes), (n,), generator=gen)
    return modes[idx] + std * torch.randn(n, 2, generator=gen), modes, std


def train(x: torch.Tensor, steps: int, batch_size: int, lr: float, seed: int, ema: float = 0.999,
          **overrides) -> gz.GenerativeModel:
    """The shared Trainer (cosine schedule to 0.1·lr, EMA of the weights copied in at the end)."""
    torch.manual_seed(seed)
    data = gz.GenDataset("mixture", "train", "2d", x)
    model = gz.build("gan", data=data, **overrides)
    gz.Trainer(model, data, steps=steps, batch_size=batch_size, lr=lr, seed=seed, ema_decay=ema or None,
               grad_clip=None, progress=False, log_every=max(1, steps)).fit()
    return model.eval()


def budget_key(row: dict) -> tuple:
    """What makes two cells the same run: data, loss, mitigation and the whole budget."""
    keys = ("data", "loss", "mitigation", "steps", "batch_size", "lr", "seed", "ema", "settings")
    return tuple(json.dumps(row.get(k), sort_keys=True) for k in keys)


def read_cells(path: str | None) -> list[dict]:
    if not path or not Path(path).exists():
        return []
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def table(rows: list[dict], losses: list[str], mitigations: list[str]) -> str:
    """Markdown grid: one row per loss, one column per mitigation; cell = modes covered, HQ fraction."""
    cell = {(r["loss"], r["mitigation"]): r for r in rows}
    lines = ["| loss | " + " | ".join(mitigations) + " |", "|---|" + "---|" * len(mitigations)]
    for loss in losses:
        vals = [f"{cell[loss, m]['modes_covered']}, {cell[loss, m]['high_quality']:.2f}" if (loss, m) in cell
                else "not run" for m in mitigations]
        lines.append(f"| {loss} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="25gaussians")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--losses", default=",".join(LOSSES))
    p.add_argument("--mitigations", default=",".join(MITIGATIONS))
    p.add_argument("--set", action="append", default=[], help="extra config key=value for every run (wins over the mitigation's own values)")
    p.add_argument("--mgan-k", type=int, default=5, help="n_generators of the mgan column (25 on 25gaussians: one per mode)")
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--jsonl", default=None, help="append each finished cell here; skip cells already in it")
    p.add_argument("--table", default=None, metavar="JSONL", help="print the markdown grid of a JSONL file and exit")
    args = p.parse_args()
    losses, mitigations = args.losses.split(","), args.mitigations.split(",")
    if args.table:
        print(table(read_cells(args.table), losses, mitigations))
        return
    torch.set_num_threads(1)
    extra = dict(kv.split("=", 1) for kv in args.set)
    done = {budget_key(r) for r in read_cells(args.jsonl)}
    x, modes, std = mixture(args.data, 20000, args.seed)
    print(f"| {args.data} | loss | mitigation | modes covered | high quality | seconds |")
    print("|---|---|---|---|---|---|")
    for mit in mitigations:
        settings = {**MITIGATIONS[mit], **({"n_generators": args.mgan_k} if mit == "mgan" else {}), **extra}
        for loss in losses:
            row = {"data": args.data, "loss": loss, "mitigation": mit, "steps": args.steps,
                   "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed, "ema": args.ema,
                   "settings": settings}
            if budget_key(row) in done:
                print(f"| {args.data} | {loss} | {mit} | (already in {args.jsonl}) | | |", flush=True)
                continue
            t0 = time.time()
            model = train(x, args.steps, args.batch_size, args.lr, args.seed, args.ema, loss=loss, **settings)
            s = model.sample(10000, generator=torch.Generator().manual_seed(123))
            m = mode_coverage(s, modes, std)
            dt = time.time() - t0
            print(f"| {args.data} | {loss} | {mit} | {m['modes_covered']}/{m['n_modes']} | {m['high_quality']:.3f} | {dt:.0f} |", flush=True)
            if args.jsonl:
                with open(args.jsonl, "a") as f:
                    f.write(json.dumps({**row, **m, "seconds": round(dt, 1), "load1": os.getloadavg()[0]}) + "\n")


if __name__ == "__main__":
    main()
