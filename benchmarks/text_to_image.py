"""Must-show figures of text-to-image latent diffusion (issue 27; docs/text_to_image.md).

1. Trains ``latent-diffusion`` on ``shapes-captions`` with the CLI defaults
   (``genzoo train latent-diffusion --data shapes-captions``) and the pixel-space baseline (the same model
   with ``--set "ae_block_out_channels=()"``, ``--pixel-steps`` steps), unless ``RUNS/latent`` /
   ``RUNS/pixel`` already hold them.
2. Autoencoder reconstruction on the test split: MSE, PSNR, FID-shapes of the reconstructions.
3. Guidance sweep, scale 1..7: one image per test caption (the first ``--n-eval`` captions of seen
   (shape, colour) pairs, and every caption of a held-out pair), judged by the shipped attribute
   classifier (``features/attributes.py``): accuracy per attribute and on all four; FID-shapes of all
   generated images against the test images.
4. Latent vs pixel: seconds per training step (batch 64) and per sampled image (25 DPM-Solver++ steps,
   guidance on), timed back to back in this process; both models' quality at the best scale.
5. A prompt x seed grid at the best scale.

Writes ``OUT/text_to_image.json``, ``.md``, ``_guidance.png`` and ``_grid.png``::

    nice -n 19 python benchmarks/text_to_image.py --runs runs/t2i --out benchmarks/results
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

import genzoo as gz
from genzoo.data.captions import EXAMPLE_PROMPTS, held_out_mask, shape_captions
from genzoo.features import load_feature_extractor
from genzoo.features.attributes import HEADS, attribute_accuracy
from genzoo.metrics import fid_from_features
from genzoo.plotting import save_samples


def train(run: Path, extra: list[str], from_checkpoint: bool = False) -> None:
    if (run / "model.safetensors").is_file() or (from_checkpoint and (run / "checkpoint").is_dir()):
        print(f"reusing {run}")
        return
    cmd = [sys.executable, "-m", "genzoo", "train", "latent-diffusion", "--data", "shapes-captions", "--out", str(run), *extra]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def load_run(run: Path):
    """``(model, step)``: a finished run, or (``--from-checkpoint``, a run stopped early) the EMA weights
    of its last checkpoint."""
    from genzoo.models.latent_diffusion import LatentDiffusion, LatentDiffusionConfig
    from genzoo.training.checkpoint import load_checkpoint

    if (run / "model.safetensors").is_file():
        model = gz.load(run)
        return model, json.loads((run / "run.json").read_text())["steps"]
    ck = load_checkpoint(run / "checkpoint")
    model = LatentDiffusion(LatentDiffusionConfig.from_dict(ck["state"]["config"]["model_config"]))
    state = {**ck["model"], **(ck["ema"] or {})}
    model.load_state_dict(state)
    return model.eval(), ck["state"]["step"]


def train_seconds(run: Path, last_step: int) -> dict[str, float]:
    """Wall-clock seconds of each training stage, from the run's metrics.jsonl."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "stage" in r and r["step"] <= last_step]
    stage1 = [r["elapsed"] for r in rows if r["stage"] == 1.0]
    end1 = stage1[-1] if stage1 else 0.0
    return {"autoencoder_s": round(end1, 1), "unet_s": round(rows[-1]["elapsed"] - end1, 1),
            "steps": rows[-1]["step"]}


@torch.no_grad()
def generate(model, captions: list[str], scale: float, seed: int = 0, batch: int = 250) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.cat([model.sample(len(c), prompt=c, guidance_scale=scale, generator=g)
                      for c in (captions[i:i + batch] for i in range(0, len(captions), batch))])


def fid(net, real: torch.Tensor, fake: torch.Tensor) -> float:
    with torch.no_grad():
        return fid_from_features(net.features(real), net.features(fake))


def timing(model, data, reps: int = 3) -> dict[str, float]:
    """Seconds per training step (batch 64, the U-Net stage) and per image sampled (batch 32, 25 steps)."""
    batch = data.batch(torch.arange(64))
    opts = model.configure_optimizers(1e-4)
    step = model.stage1_steps + 10
    model.train()
    model.training_step(batch, step, optimizers=opts)
    t = time.perf_counter()
    for _ in range(reps):
        model.training_step(batch, step, optimizers=opts)
    train_s = (time.perf_counter() - t) / reps
    model.eval()
    t = time.perf_counter()
    model.sample(32, prompt="a small red circle at the top left", guidance_scale=3.0, steps=25, generator=torch.Generator().manual_seed(0))
    return {"train_step_s": round(train_s, 4), "sample_image_s": round((time.perf_counter() - t) / 32, 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, default=Path("runs/t2i"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--n-eval", type=int, default=500, help="seen-pair test captions per guidance scale")
    ap.add_argument("--n-held", type=int, default=1000, help="held-out-pair test captions (at most all ~180)")
    ap.add_argument("--pixel-steps", type=int, default=1000, help="0: time an untrained pixel model, no quality")
    ap.add_argument("--from-checkpoint", action="store_true", help="evaluate the last checkpoint of a stopped run")
    ap.add_argument("--scales", default="1,2,3,4,5,6,7")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    train(args.runs / "latent", [], args.from_checkpoint)
    latent, latent_step = load_run(args.runs / "latent")
    test = gz.load_dataset("shapes-captions", "test")
    if args.pixel_steps:
        train(args.runs / "pixel", ["--set", "ae_block_out_channels=()", "--steps", str(args.pixel_steps)], args.from_checkpoint)
        pixel, pixel_step = load_run(args.runs / "pixel")
    else:
        pixel, pixel_step = gz.build("latent-diffusion", test, ae_block_out_channels=()), 0
    extractor = load_feature_extractor("shapes")
    attrs, held = test.info["attributes"], test.info["held_out"]
    seen_idx = (~held).nonzero().squeeze(1)[: args.n_eval]
    held_idx = held.nonzero().squeeze(1)[: args.n_held]
    idx = torch.cat([seen_idx, held_idx])
    captions = shape_captions(attrs[idx])
    is_held = held_out_mask(attrs[idx])
    results: dict = {"machine": "2-core AMD EPYC, torch %s CPU" % torch.__version__.split("+")[0],
                     "n_seen": len(seen_idx), "n_held_out": len(held_idx), "train": {}, "sweep": [],
                     "latent_step": latent_step, "pixel_step": pixel_step}

    ae = latent.autoencoder
    with torch.no_grad():
        recon = latent.decode_latents(latent.latents(test.x, sample=False))
    mse = float(((recon - test.x) ** 2).mean())
    psnr = float(10 * torch.log10(torch.tensor(4.0 / mse)))  # peak-to-peak 2 in [-1, 1]
    results["autoencoder"] = {"latent_shape": list(latent.latent_shape), "scaling_factor": latent.config.scaling_factor,
                              "test_mse": round(mse, 5), "test_psnr_db": round(psnr, 2),
                              "fid_shapes_recon": round(fid(extractor, test.x, recon), 3),
                              "params": sum(p.numel() for p in ae.parameters())}
    print("autoencoder", results["autoencoder"], flush=True)
    results["fid_shapes_train_vs_test"] = round(fid(extractor, test.x, gz.load_dataset("shapes-captions").x[:1000]), 3)

    for scale in [float(s) for s in args.scales.split(",")]:
        t = time.perf_counter()
        images = generate(latent, captions, scale)
        row = {"scale": scale, "seen": attribute_accuracy(images[~is_held], attrs[idx][~is_held]),
               "held_out": attribute_accuracy(images[is_held], attrs[idx][is_held]),
               "fid_shapes": round(fid(extractor, test.x, images), 3), "seconds": round(time.perf_counter() - t, 1)}
        results["sweep"].append(row)
        print(json.dumps(row), flush=True)
    best = max(results["sweep"], key=lambda r: r["seen"]["all"])
    results["best_scale"] = best["scale"]

    results["pixel_at_best_scale"] = None
    if pixel_step:
        t = time.perf_counter()
        pix_images = generate(pixel, captions, best["scale"])
        results["pixel_at_best_scale"] = {"seen": attribute_accuracy(pix_images[~is_held], attrs[idx][~is_held]),
                                          "held_out": attribute_accuracy(pix_images[is_held], attrs[idx][is_held]),
                                          "fid_shapes": round(fid(extractor, test.x, pix_images), 3),
                                          "seconds": round(time.perf_counter() - t, 1)}
    train_set = gz.load_dataset("shapes-captions")
    for name, run, model, step in (("latent", args.runs / "latent", latent, latent_step),
                                   ("pixel", args.runs / "pixel", pixel, pixel_step)):
        spent = train_seconds(run, step) if step else {"autoencoder_s": 0.0, "unet_s": 0.0, "steps": 0}
        results["train"][name] = {**spent, **timing(model, train_set),
                                  "unet_params": sum(p.numel() for p in model.net.parameters())}
    lt, pt = results["train"]["latent"], results["train"]["pixel"]
    results["pixel_over_latent"] = {"train_step": round(pt["train_step_s"] / lt["train_step_s"], 2),
                                    "sample_image": round(pt["sample_image_s"] / lt["sample_image_s"], 2)}
    print(json.dumps(results["pixel_at_best_scale"]), json.dumps(results["train"]), flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    grid = torch.cat([generate(latent, [p] * 6, best["scale"], seed=1) for p in EXAMPLE_PROMPTS])
    save_samples(grid, args.out / "text_to_image_grid.png", nrow=6, pixel_scale=4)
    plot_sweep(results, args.out / "text_to_image_guidance.png")
    (args.out / "text_to_image.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "text_to_image.md").write_text(table(results))
    print(table(results))


def plot_sweep(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep = results["sweep"]
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.plot([r["fid_shapes"] for r in sweep], [100 * r["seen"]["all"] for r in sweep], "o-", label="seen pairs")
    ax.plot([r["fid_shapes"] for r in sweep], [100 * r["held_out"]["all"] for r in sweep], "s--", label="held-out pairs")
    for r in sweep:
        ax.annotate(f"w={r['scale']:g}", (r["fid_shapes"], 100 * r["seen"]["all"]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    ax.set_xlabel("FID-shapes (lower is better)")
    ax.set_ylabel("all-attribute accuracy (%)")
    ax.set_title("latent diffusion on shapes-captions: guidance sweep", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def table(r: dict) -> str:
    heads = list(HEADS)
    lines = ["| guidance | " + " | ".join(heads) + " | all (seen) | all (held-out) | FID-shapes |",
             "|---" * (len(heads) + 4) + "|"]
    for row in r["sweep"]:
        lines.append(f"| {row['scale']:g} | " + " | ".join(f"{100 * row['seen'][h]:.1f}" for h in heads)
                     + f" | {100 * row['seen']['all']:.1f} | {100 * row['held_out']['all']:.1f} | {row['fid_shapes']:.2f} |")
    p, t, ae = r["pixel_at_best_scale"] or {}, r["train"], r["autoencoder"]
    pix = (f"{100 * p['seen']['all']:.1f} | {100 * p['held_out']['all']:.1f} | {p['fid_shapes']:.2f}" if p
           else "not trained (timing only) | | ")
    ratio, b = r["pixel_over_latent"], next(x for x in r["sweep"] if x["scale"] == r["best_scale"])
    return "\n".join(lines) + (
        f"\n\nSeen-pair accuracy per attribute (held-out pairs in their own column); {r['n_seen']} seen and "
        f"{r['n_held_out']} held-out test captions, one image each, DPM-Solver++ 25 steps, seed 0. "
        f"FID-shapes of 1000 train vs test images: {r['fid_shapes_train_vs_test']:.2f}.\n\n"
        f"Autoencoder: latent {tuple(ae['latent_shape'])}, scaling factor {ae['scaling_factor']:.3f}, test MSE {ae['test_mse']:.4f} "
        f"(PSNR {ae['test_psnr_db']:.1f} dB), FID-shapes of reconstructions {ae['fid_shapes_recon']:.2f}.\n\n"
        f"| model | training steps | train s/step | sample s/image | all (seen) @ w={r['best_scale']:g} | all (held-out) | FID-shapes |\n"
        f"|---|---|---|---|---|---|---|\n"
        f"| latent 8x8x4 | {t['latent']['steps']} | {t['latent']['train_step_s']:.3f} | {t['latent']['sample_image_s']:.4f} | "
        f"{100 * b['seen']['all']:.1f} | {100 * b['held_out']['all']:.1f} | {b['fid_shapes']:.2f} |\n"
        f"| pixel 16x16x3 | {t['pixel']['steps']} | {t['pixel']['train_step_s']:.3f} | {t['pixel']['sample_image_s']:.4f} | "
        f"{pix} |\n\n"
        f"Pixel / latent time: training step {ratio['train_step']:.2f}x, sampling {ratio['sample_image']:.2f}x. "
        f"Training wall-clock: latent {t['latent']['autoencoder_s']:.0f} s autoencoder + {t['latent']['unet_s']:.0f} s U-Net; "
        f"pixel {t['pixel']['unet_s']:.0f} s.\n")


if __name__ == "__main__":
    main()
