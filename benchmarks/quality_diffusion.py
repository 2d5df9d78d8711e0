"""Sample quality of one trained ddpm under each sampler (same network, same seed).

- ``digits16`` / ``shapes``: class-conditional U-Net (16/32/32, attention at 4x4), then for DDPM-1000,
  DDIM-50, DPM-Solver++(2M) 10/20, Heun-Karras 18: ``--n`` samples each (labels cycling over the
  classes, one seeded generator), FID / KID / precision-recall-density-coverage in the feature space
  of genzoo's shipped classifier for the set ("FID-digits" / "FID-shapes") against the test split.
  The noise floor: ``--n`` real training images scored the same way (three random subsets).
  Samples are cached in ``OUT/<data>/samples/*.safetensors`` (an interrupted run resumes; delete
  them to resample) and shown in ``OUT/<data>/grid_<sampler>-<steps>.png`` and ``OUT/<data>/samplers.png``.
- ``25gaussians``: MLP denoiser; modes covered and high-quality fraction (within 3 mode std).

The numbers of benchmarks/results/diffusion.md (defaults: digits16 4000 training steps and 1000 samples
per sampler, shapes 1500 steps and 500 samples; 70 min here on a loaded 2-core CPU), then the variant
rows (25 min, 12 of them the shapes DDPM-1000 of a second seed)::

    python benchmarks/quality_diffusion.py --results benchmarks/results/diffusion_quality.jsonl
    python benchmarks/quality_diffusion.py --variants --results benchmarks/results/diffusion_quality.jsonl
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

import genzoo as gz
from genzoo.features import extractor_name_for, load_feature_extractor
from genzoo.metrics import fid_from_features, kid_from_features, prdc
from genzoo.plotting import save_samples
from genzoo.samplers.denoise import denoise
from genzoo.utils import randn

SAMPLERS = [("ddpm", 1000), ("ddim", 50), ("dpm++2m", 10), ("dpm++2m", 20), ("heun", 18)]
IMAGE_NET = dict(block_out_channels=(16, 32, 32), attention_levels=(2,))
# --variants: (label, sampler, steps, seed, make_sampler overrides): the seed-to-seed spread at n samples,
# the ODE solver's convergence (50 steps), stochastic DDIM (eta 1) and the final-step / spacing / clipping options of DPM-Solver++
VARIANTS = [
    ("dpm++2m-20 seed 1", "dpm++2m", 20, 1, {}),
    ("dpm++2m-20 seed 2", "dpm++2m", 20, 2, {}),
    ("ddim-50 seed 1", "ddim", 50, 1, {}),
    ("ddim-50 eta 1", "ddim", 50, 0, {"eta": 1.0}),
    ("dpm++2m-50", "dpm++2m", 50, 0, {}),
    ("dpm++2m-20 trailing", "dpm++2m", 20, 0, {"timestep_spacing": "trailing"}),
    ("dpm++2m-10 karras", "dpm++2m", 10, 0, {"use_karras_sigmas": True}),
    ("dpm++2m-20 karras", "dpm++2m", 20, 0, {"use_karras_sigmas": True}),
    ("dpm++2m-50 karras", "dpm++2m", 50, 0, {"use_karras_sigmas": True}),
    ("dpm++2m-20 no x0 clip", "dpm++2m", 20, 0, {"clip_sample": False}),
]
EXTRA_VARIANTS = {"shapes": [("ddpm-1000 seed 1", "ddpm", 1000, 1, {})]}  # DDPM's own seed spread (n=500: 12 min)


def nfe(name: str, steps: int) -> int:
    return 2 * steps - 1 if name == "heun" else steps


def train(name: str, steps: int, out: Path, batch_size: int | None = None, lr: float | None = None, **overrides):
    data = gz.load_dataset(name, split="train")
    if (out / name / "config.json").is_file():
        return gz.load(out / name).eval(), data
    model = gz.build("ddpm", data=name, **overrides)
    t0 = time.time()
    gz.Trainer(model, data, steps=steps, batch_size=batch_size, lr=lr, progress=False, out=out / f"{name}-run",
               resume=(out / f"{name}-run" / "checkpoint").exists()).fit()
    model.save_pretrained(out / name)
    print(f"{name}: trained {steps} steps in {time.time() - t0:.0f}s", flush=True)
    return model.eval(), data


def scores(real: torch.Tensor, fake: torch.Tensor, seed: int = 0) -> dict:
    """FID, KID (subsets of the smaller set's size) and PRDC (k=5) between two feature sets."""
    size = min(1000, len(real), len(fake))
    kid, kid_std = kid_from_features(real, fake, subsets=100, subset_size=size, generator=torch.Generator().manual_seed(seed))
    return {"fid": round(fid_from_features(real, fake), 3), "kid": round(kid, 5), "kid_std": round(kid_std, 5),
            **{k: round(v, 4) for k, v in prdc(real, fake, k=5).items()}}


@torch.no_grad()
def draw(model, n: int, name: str, steps: int, seed: int = 0, **overrides) -> torch.Tensor:
    """``model.sample`` from a generator seeded ``seed``; with sampler ``overrides``, the same loop by hand."""
    g = torch.Generator().manual_seed(seed)
    if not overrides:
        return model.sample(n, generator=g, sampler=name, steps=steps)
    labels = model.sample_labels(n, None, 1.0, "cpu")
    noise = randn((n, *model.config.shape), generator=g)
    return denoise(model.guided_fn(labels, 1.0), model.make_sampler(name, steps, **overrides), noise, generator=g).clamp(-1, 1)


def cached_samples(model, path: Path, n: int, name: str, steps: int, seed: int = 0, **overrides) -> tuple[torch.Tensor, float]:
    """``draw(...)`` cached at ``path``, and the seconds it took."""
    if path.is_file():
        with safe_open(str(path), framework="pt") as f:
            return f.get_tensor("x"), float(f.metadata()["seconds"])
    t0 = time.time()
    x = draw(model, n, name, steps, seed, **overrides)
    seconds = time.time() - t0
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"x": x.contiguous()}, str(path), metadata={"seconds": f"{seconds:.1f}"})
    return x, seconds


def image_table(name: str, steps: int, n: int, out: Path, variants: bool = False) -> list[dict]:
    model, data = train(name, steps, out, batch_size=64, lr=1e-3, **IMAGE_NET)
    test = gz.load_dataset(name, split="test")
    extractor = load_feature_extractor(extractor_name_for(name))
    embed = lambda x: torch.cat([extractor(c)[0] for c in x.split(500)]).double()  # noqa: E731
    with torch.no_grad():
        real = embed(test.x)
        common = {"data": name, "train_steps": steps, "n": n, "n_test": len(test), "features": f"FID-{extractor.label}"}
        rows = []
        for seed in ([] if variants else range(3)):  # the floor: real training images vs the test split, same n
            pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
            rows.append({**common, "sampler": "real train images", "steps": 0, "nfe": 0, "seed": seed,
                         **scores(real, embed(data.x[pick]))})
            print(rows[-1], flush=True)
        runs = [(f"{s}-{k}", s, k, 0, {}) for s, k in SAMPLERS] if not variants else VARIANTS + EXTRA_VARIANTS.get(name, [])
        for label, sampler, k, seed, overrides in runs:
            slug = label.replace(" ", "_")
            x, seconds = cached_samples(model, out / name / "samples" / f"{slug}.safetensors", n, sampler, k, seed, **overrides)
            save_samples(x[:100], out / name / f"grid_{slug}.png", nrow=10)
            rows.append({**common, "sampler": sampler, "steps": k, "nfe": nfe(sampler, k), "seconds": round(seconds, 1),
                         **({"variant": label} if variants else {}), **scores(real, embed(x))})
            print(rows[-1], flush=True)
    if not variants:
        sampler_figure(name, out, [label for label, *_ in runs])
    return rows


def sampler_figure(name: str, out: Path, labels: list[str]) -> Path:
    """The first 100 samples of each sampler side by side (``OUT/<data>/samplers.png``), titled."""
    from PIL import Image, ImageDraw

    grids = [Image.open(out / name / f"grid_{label.replace(' ', '_')}.png").convert("RGB") for label in labels]
    w, h = grids[0].size
    fig = Image.new("RGB", (len(grids) * (w + 8), h + 14), "white")
    for i, (grid, label) in enumerate(zip(grids, labels)):
        fig.paste(grid, (i * (w + 8), 14))
        ImageDraw.Draw(fig).text((i * (w + 8) + 2, 1), label, fill="black")
    fig.save(out / name / "samplers.png")
    return out / name / "samplers.png"


def gaussians_table(steps: int, out: Path) -> list[dict]:
    model, data = train("25gaussians", steps, out, batch_size=512, lr=3e-3, hidden=128, depth=3)
    test = gz.load_dataset("25gaussians", split="test")
    rows = []
    for name, k in SAMPLERS:
        t0 = time.time()
        x = model.sample(1000, generator=torch.Generator().manual_seed(0), sampler=name, steps=k)
        r = gz.evaluate(None, test, metrics=["modes", "mmd"], samples=x)
        rows.append({"data": "25gaussians", "sampler": name, "steps": k, "nfe": nfe(name, k),
                     "seconds": round(time.time() - t0, 1), **r})
        print(rows[-1], flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1500, help="training steps of the 25gaussians model")
    ap.add_argument("--digits-steps", type=int, default=4000)
    ap.add_argument("--shapes-steps", type=int, default=1500)
    ap.add_argument("--n", type=int, default=1000, help="samples per sampler (and real images of the floor)")
    ap.add_argument("--shapes-n", type=int, default=500, help="--n for shapes")
    ap.add_argument("--out", default="runs/quality_diffusion_v2")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default="digits16,shapes")
    ap.add_argument("--results", default=None, help="also append the rows to this jsonl file")
    ap.add_argument("--variants", action="store_true", help="the VARIANTS rows (seeds, DPM-Solver++ options) instead")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    only = args.only.split(",")
    rows = []
    if "25gaussians" in only:
        rows += gaussians_table(args.steps, out)
    for name, steps, n in (("digits16", args.digits_steps, args.n), ("shapes", args.shapes_steps, args.shapes_n)):
        if name in only:
            rows += image_table(name, steps, n, out, args.variants)
    out.mkdir(parents=True, exist_ok=True)
    (out / ("variants.json" if args.variants else "quality.json")).write_text(json.dumps(rows, indent=1))
    if args.results:
        with open(args.results, "a") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)


if __name__ == "__main__":
    main()
