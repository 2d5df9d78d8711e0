"""Train one genzoo model on one dataset with the shared Trainer, then record test bits/dim,
training time and a sample grid (used by the PixelCNN / MADE / VAE results notes).

    python benchmarks/train_eval.py pixelcnn digits --steps 1500 --batch-size 64 --lr 2e-3 \
        --set channels=48 --set n_layers=6 --tag pixelcnn-digits --results benchmarks/results/autoregressive_images

Appends one JSON line to RESULTS/results.jsonl and writes RESULTS/TAG.png (64 samples).
Machine: whatever runs it; torch threads are 1 (shared CPU).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

import genzoo as gz
from genzoo.plotting import save_samples


def parse_set(items: list[str]) -> dict:
    out = {}
    for item in items:
        k, v = item.split("=", 1)
        out[k] = v
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("data")
    p.add_argument("--steps", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--ema-decay", type=float, default=0.995)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--tag", required=True)
    p.add_argument("--results", default="benchmarks/results/autoregressive_images")
    p.add_argument("--out", default=None, help="run directory (default /tmp/gz_runs/TAG)")
    p.add_argument("--eval-kw", default="{}", help="JSON kwargs for log_prob-based metrics")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    train, test = gz.load_dataset(args.data, split="train"), gz.load_dataset(args.data, split="test")
    model = gz.build(args.model, train, **parse_set(args.set))
    out = Path(args.out or f"/tmp/gz_runs/{args.tag}")
    t0 = time.time()
    gz.Trainer(model, train, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=0, out=out,
               ema_decay=args.ema_decay, weight_decay=args.weight_decay, progress=False,
               sample_every=10**9, checkpoint_every=10**9).fit()
    train_s = time.time() - t0
    model.eval()
    t0 = time.time()
    try:
        test_m = gz.evaluate(model, test, ["bpd"])
        train_m = gz.evaluate(model, train, ["bpd"], max_examples=400)
    except gz.NotSupported:  # vqvae: no likelihood
        test_m = train_m = {"bpd": float("nan")}
    eval_s = time.time() - t0
    t0 = time.time()
    k = getattr(model.config, "num_classes", None)
    y = torch.arange(k).repeat_interleave(8) if k else None  # class-conditional: one row per class
    samples = model.sample(8 * k if k else 64, generator=torch.Generator().manual_seed(0), **({"y": y} if k else {}))
    sample_s = time.time() - t0
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    save_samples(samples, results / f"{args.tag}.png", nrow=8)
    extra = {}
    if k:  # gz.evaluate passes the labels: that is log p(x | y); also report the label-marginal log p(x)
        with torch.no_grad():
            lp = torch.cat([model.log_prob(test.x[i:i + 256]) for i in range(0, len(test), 256)])
        extra["test_bpd_marginal"] = round(-lp.mean().item() / (test.x[0].numel() * math.log(2)), 4)
    if hasattr(model, "reconstruct"):  # vqvae: reconstructions (rows: data, reconstruction) and code usage
        with torch.no_grad():
            rec = model.reconstruct(test.x)
            codes = model.encode(test.x).flatten()
        p = torch.bincount(codes, minlength=model.config.codebook_size).float() / len(codes)
        extra = {"test_rec_mse": round(torch.mean((rec - test.x) ** 2).item(), 5),
                 "test_code_perplexity": round(torch.exp(-(p * (p + 1e-10).log()).sum()).item(), 2),
                 "codes_used": int((p > 0).sum())}
        pairs = torch.stack([test.x[:32].view(4, 8, *test.shape), rec[:32].view(4, 8, *test.shape)], 1)
        save_samples(pairs.reshape(64, *test.shape), results / f"{args.tag}-recon.png", nrow=8)
    row = {"tag": args.tag, "model": args.model, "data": args.data, "steps": args.steps, "batch_size": args.batch_size,
           "lr": args.lr, "set": args.set, "params": sum(p.numel() for p in model.parameters()),
           "test_bpd": round(test_m["bpd"], 4), "train_bpd_400": round(train_m["bpd"], 4), "train_s": round(train_s, 1),
           "eval_s": round(eval_s, 1), "sample64_s": round(sample_s, 2), **extra, "config": model.config.to_dict()}
    with open(results / "results.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
