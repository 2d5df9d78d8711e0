"""Posterior collapse of a text VAE (GRU decoder) on pystdlib, and the controls that prevent it.

Trains the same `vae` (backbone=rnn) with and without the controls (KL warm-up, free bits, word
dropout) and reports, on test sequences: KL (nats/sequence), active units (Cov_x E_q[z] > 0.01),
mutual information estimate, and the IWAE bound (nats/char, k importance samples).

    python benchmarks/vae_text_collapse.py --steps 800 --block-size 32
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

import genzoo as gz

RUNS = {
    "plain": {},
    "controls": {"warmup_steps": "400", "free_bits": "0.25", "word_dropout": "0.3"},
    "warmup+freebits": {"warmup_steps": "400", "free_bits": "0.1"},
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--block-size", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--latent-dim", type=int, default=16)
    p.add_argument("--hidden", default="128")
    p.add_argument("--embed-dim", type=int, default=32)
    p.add_argument("--n-test", type=int, default=300)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--runs", default="plain,controls")
    p.add_argument("--results", default="benchmarks/results/vae")
    args = p.parse_args()
    torch.set_num_threads(1)
    train = gz.load_dataset("pystdlib", split="train", tokenizer="char", block_size=args.block_size)
    test = gz.load_dataset("pystdlib", split="test", tokenizer="char", block_size=args.block_size)
    x_test = test.x[: args.n_test]
    for name in args.runs.split(","):
        model = gz.build("vae", train, latent_dim=args.latent_dim, hidden=args.hidden,
                         embed_dim=args.embed_dim, **RUNS[name])
        t0 = time.time()
        gz.Trainer(model, train, steps=args.steps, batch_size=args.batch_size, lr=2e-3, seed=0,
                   out=f"/tmp/gz_runs/vae-text-{name}", ema_decay=None, progress=False,
                   sample_every=10**9, checkpoint_every=10**9).fit()
        train_s = time.time() - t0
        model.eval()
        with torch.no_grad():
            diag = model.diagnostics(x_test)
            iwae = model.log_prob(x_test, k=args.k).mean().item()
            elbo = model.elbo(x_test).mean().item()
            samples = model.sample(4, generator=torch.Generator().manual_seed(0))
        row = {"run": name, "controls": RUNS[name], "steps": args.steps, "block_size": args.block_size,
               "kl": round(diag["kl"], 3), "active_units": diag["active_units"], "latent_dim": args.latent_dim,
               "mi": round(diag["mi"], 3), "elbo_nats_per_char": round(-elbo / args.block_size, 4),
               f"iwae{args.k}_nats_per_char": round(-iwae / args.block_size, 4),
               "iwae_bpc": round(-iwae / args.block_size / math.log(2), 4), "train_s": round(train_s, 1),
               "kl_per_dim": [round(v, 3) for v in diag["kl_per_dim"]],
               "samples": [train.tokenizer.decode(s.tolist()) for s in samples]}
        Path(args.results).mkdir(parents=True, exist_ok=True)
        with open(Path(args.results) / "text_collapse.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row))


if __name__ == "__main__":
    main()
