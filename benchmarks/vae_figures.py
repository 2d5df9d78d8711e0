"""Figures and diagnostics of a trained image VAE: reconstructions, latent traversals, interpolation,
mean samples (PNG), and test-set KL per dimension / active units / MI (JSON line).

    python benchmarks/vae_figures.py /tmp/gz_runs/vae-digits digits --tag vae-digits
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

import genzoo as gz
from genzoo.plotting import save_samples


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("run")
    p.add_argument("data")
    p.add_argument("--tag", required=True)
    p.add_argument("--results", default="benchmarks/results/vae")
    args = p.parse_args()
    torch.set_num_threads(1)
    model = gz.load(args.run).eval()
    test = gz.load_dataset(args.data, split="test")
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    shape = test.shape
    with torch.no_grad():
        mu, _ = model.encode(test.x)
        rec = model.decode_mean(mu[:32])
        pairs = torch.stack([test.x[:32].view(4, 8, *shape), rec.view(4, 8, *shape)], 1).reshape(64, *shape)
        save_samples(pairs, out / f"{args.tag}-recon.png", nrow=8)
        diag = model.diagnostics(test.x)
        top = torch.tensor(diag["kl_per_dim"]).argsort(descending=True)[:8]
        steps = torch.linspace(-2.5, 2.5, 8)
        z = mu[:1].repeat(64, 1)
        for row, d in enumerate(top.tolist()):  # each row moves one latent (largest KL first)
            z[row * 8:(row + 1) * 8, d] = steps
        save_samples(model.decode_mean(z), out / f"{args.tag}-traversal.png", nrow=8)
        t = torch.linspace(0, 1, 8)[:, None]
        pairs_idx = [(0, 1), (2, 3), (4, 5), (6, 7)]
        interp = torch.cat([model.decode_mean((1 - t) * mu[a] + t * mu[b]) for a, b in pairs_idx])
        save_samples(interp, out / f"{args.tag}-interpolation.png", nrow=8)
        save_samples(model.sample(64, generator=torch.Generator().manual_seed(0), mean=True),
                     out / f"{args.tag}-mean-samples.png", nrow=8)
    row = {"tag": args.tag, "kl_nats": round(diag["kl"], 3), "active_units": diag["active_units"],
           "latent_dim": len(diag["kl_per_dim"]), "mi_nats": round(diag["mi"], 3),
           "kl_per_dim": [round(v, 3) for v in diag["kl_per_dim"]]}
    with open(out / "diagnostics.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
