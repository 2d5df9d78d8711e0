"""Conv EBM (PCD + replay buffer) and JEM on `digits`: sample grids, FID-digits / KID / precision-recall.

    python benchmarks/ebm_digits.py --objective pcd --steps 1000 --lr 1e-3   # Du & Mordatch 2019 recipe
    python benchmarks/ebm_digits.py --objective jem --steps 1000 --lr 1e-3   # + test accuracy, per-class grid

Trains with the shared Trainer (no EMA: the replay buffer belongs to the raw weights), then scores
1000 samples of each kind against the test split in the shipped digits classifier's feature space:
``fresh`` = ``sample()`` from uniform noise (``--sample-steps`` SGLD steps), ``buffer`` = random
replay-buffer rows (what Du & Mordatch show), and, as the floor, 1000 real training images.
Writes PNG grids to --plots (default benchmarks/results/ebm_plots/ebm_digits_<objective>_*.png).
Runs single-threaded (the machine is shared). ``--set key=value`` overrides EBMConfig fields.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import genzoo as gz
from genzoo.features import load_feature_extractor
from genzoo.plotting import save_samples

METRICS = ["fid", "kid", "prdc"]


def score(samples, test) -> dict[str, float]:
    r = gz.evaluate(samples, test, metrics=METRICS)
    return {k: r[k] for k in ("fid", "kid", "precision", "recall", "density", "coverage")}


def parse_value(v: str):
    try:
        return json.loads(v)
    except json.JSONDecodeError:
        return v


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--objective", default="pcd", choices=["pcd", "jem"])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--num-samples", type=int, default=1000)
    p.add_argument("--sample-steps", type=int, default=None, help="SGLD steps of fresh chains (config default)")
    p.add_argument("--plots", default="benchmarks/results/ebm_plots")
    p.add_argument("--save", default=None, help="save the trained model to this directory")
    p.add_argument("--set", action="append", default=[], help="EBMConfig override key=value")
    args = p.parse_args()
    torch.set_num_threads(1)
    train, test = gz.load_dataset("digits"), gz.load_dataset("digits", split="test")
    # a short run: 2000 buffer rows are each revisited ~30 times in 1000 steps of 64
    overrides = {"buffer_size": 2000, **{k: parse_value(v) for k, v in (kv.split("=", 1) for kv in args.set)}}
    model = gz.build("ebm", data=train, objective=args.objective, **overrides)
    print(model.config)
    t0 = time.time()
    gz.Trainer(model, train, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=0,
               progress=False, ema_decay=None, log_every=max(1, args.steps // 10),
               callbacks=[log_progress(args.steps, t0)]).fit()
    t_train = time.time() - t0
    model.eval()
    if args.save:
        model.save_pretrained(args.save)
    n, g = args.num_samples, torch.Generator().manual_seed(0)
    t0 = time.time()
    fresh = torch.cat([model.sample(min(250, n - i), generator=g, steps=args.sample_steps) for i in range(0, n, 250)])
    t_sample = time.time() - t0
    buffer = model.sample(n, generator=g, from_buffer=True, steps=0)
    real = train.x[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:n]]
    plots, tag = Path(args.plots), f"ebm_digits_{args.objective}"
    save_samples(fresh[:64], plots / f"{tag}_fresh.png", kind="image")
    save_samples(buffer[:64], plots / f"{tag}_buffer.png", kind="image")
    steps = args.sample_steps or model.config.sample_steps
    print(f"\ntrain {t_train:.0f} s ({args.steps} steps, batch {args.batch_size}); "
          f"{n} fresh samples ({steps} SGLD steps) {t_sample:.0f} s")
    print("| samples | FID-digits | KID | precision | recall | density | coverage |")
    print("|---|---|---|---|---|---|---|")
    for name, x in ((f"fresh ({steps} SGLD steps from noise)", fresh), ("replay buffer", buffer),
                    ("real train images (floor)", real)):
        r = score(x, test)
        print(f"| {name} | {r['fid']:.1f} | {r['kid']:.4f} | {r['precision']:.3f} | {r['recall']:.3f} | "
              f"{r['density']:.3f} | {r['coverage']:.3f} |", flush=True)
    if args.objective == "jem":
        acc = (model.classify(test.x).argmax(1) == test.y).float().mean().item()
        labels = torch.arange(100) // 10  # row y holds ten samples of class y
        cond = model.sample(100, generator=torch.Generator().manual_seed(0), y=labels, steps=args.sample_steps)
        agree = (model.classify(cond).argmax(1) == labels).float().mean().item()
        _, shipped_logits = load_feature_extractor("digits")(cond)  # an independent judge
        shipped = (shipped_logits.argmax(1) == labels).float().mean().item()
        save_samples(cond, plots / f"{tag}_by_class.png", kind="image", nrow=10)
        print(f"\nJEM test accuracy {acc:.4f} ({len(test)} test images); class-conditional samples classified "
              f"as their label: {agree:.2f} by the JEM itself, {shipped:.2f} by the shipped digits classifier")


def log_progress(total: int, t0: float):
    def callback(trainer, step, logs):
        if step % max(1, total // 20) == 0:
            print(step, {k: round(v, 4) for k, v in logs.items()}, f"{time.time() - t0:.0f}s", flush=True)
    return callback


if __name__ == "__main__":
    main()
