"""Sample quality of one trained ddpm under each sampler (same network, same seed).

- ``digits16``: class-conditional U-Net, then FID-digits / MMD (feature space of genzoo's shipped
  digits classifier) against the test split for DDPM-1000, DDIM-50, DPM-Solver++ 10/20, Heun-Karras 18.
- ``25gaussians``: MLP denoiser; modes covered and high-quality fraction (within 3 mode std).

    python benchmarks/quality_diffusion.py [--steps 1500] [--n 250] [--out runs/quality_diffusion]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import genzoo as gz

SAMPLERS = [("ddpm", 1000), ("ddim", 50), ("dpm++2m", 10), ("dpm++2m", 20), ("heun", 18)]


def nfe(name: str, steps: int) -> int:
    return 2 * steps - 1 if name == "heun" else steps


def train(name: str, steps: int, out: Path, batch_size: int | None = None, lr: float | None = None, **overrides):
    data = gz.load_dataset(name, split="train")
    model = gz.build("ddpm", data=name, **overrides)
    if (out / name / "config.json").is_file():
        return gz.load(out / name), data
    t0 = time.time()
    gz.Trainer(model, data, steps=steps, batch_size=batch_size, lr=lr, progress=False, out=out / f"{name}-run").fit()
    model.save_pretrained(out / name)
    print(f"{name}: trained {steps} steps in {time.time() - t0:.0f}s", flush=True)
    return model.eval(), data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--n", type=int, default=250)
    ap.add_argument("--out", default="runs/quality_diffusion")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default="digits16,25gaussians")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    rows = []
    if "25gaussians" in args.only:
        model, data = train("25gaussians", args.steps, out, batch_size=512, lr=3e-3, hidden=128, depth=3)
        test = gz.load_dataset("25gaussians", split="test")
        for name, steps in SAMPLERS:
            t0 = time.time()
            x = model.sample(1000, generator=torch.Generator().manual_seed(0), sampler=name, steps=steps)
            r = gz.evaluate(None, test, metrics=["modes", "mmd"], samples=x)
            rows.append({"data": "25gaussians", "sampler": name, "steps": steps, "nfe": nfe(name, steps),
                         "seconds": round(time.time() - t0, 1), **r})
            print(rows[-1], flush=True)
    if "digits16" in args.only:
        model, data = train("digits16", args.steps, out, batch_size=64, block_out_channels=(16, 32, 32),
                            attention_levels=(2,))
        test = gz.load_dataset("digits16", split="test")
        real = data.x[torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[: args.n]]
        rows.append({"data": "digits16", "sampler": f"real train images (n={args.n})", "steps": 0, "nfe": 0, "seconds": 0,
                     **gz.evaluate(None, test, metrics=["fid", "mmd"], samples=real)})
        print(rows[-1], flush=True)
        for name, steps in SAMPLERS:
            t0 = time.time()
            x = model.sample(args.n, generator=torch.Generator().manual_seed(0), sampler=name, steps=steps)
            r = gz.evaluate(None, test, metrics=["fid", "mmd"], samples=x)
            rows.append({"data": "digits16", "sampler": name, "steps": steps, "nfe": nfe(name, steps),
                         "seconds": round(time.time() - t0, 1), **r})
            print(rows[-1], flush=True)
    (out / "quality.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
