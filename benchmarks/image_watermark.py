"""Tree-Ring vs DWT-DCT image watermarks on a small digits16 diffusion model (issue 25, must-show).

    python benchmarks/image_watermark.py --out DIR [--run RUN] [--n 200]

1. Model: ``--run RUN`` (a saved image ddpm), or trains one into DIR/model (unconditional ddpm on
   ``digits16``, U-Net 16/32/32, 3000 steps x batch 64, ~6 min on one core):
   ``genzoo train ddpm --data digits16 --steps 3000 --batch-size 64 --set num_classes=None
   --set block_out_channels=16,32,32``.
2. N Tree-Ring watermarked and N clean samples, DDIM-50 (eta 0) from the same generator seed: the
   two sets share every noise coefficient outside the key's rings.
3. Attacks, applied with Pillow to the 8-bit images (``ATTACKS``), at two resolutions:
   native = the model's 16x16 samples (Tree-Ring only: DWT-DCT cannot hold a message below 256x256);
   published = the samples upsampled x16 (nearest) to 256x256 RGB, the size imwatermark needs; here
   both methods run on the same images (DWT-DCT embeds into the clean samples' published copies;
   Tree-Ring detection area-downsamples back to 16x16 before inverting).
4. Scores: Tree-Ring -L1 distance (and its chi-square p-value), DWT-DCT fraction of matching bits
   (and its binomial p-value); positives = watermarked, negatives = the clean samples. AUC
   (``sklearn.metrics.roc_auc_score``), TPR at 1 % FPR (the ROC point with the largest TPR whose
   FPR <= 0.01), and TPR / FPR of the detectors' own rule p < 0.01.
5. Quality cost: FID-digits (genzoo's shipped digits classifier features) of the watermarked and the
   clean samples against the digits16 test split, with a real-data floor (N train images); PSNR of
   the DWT-DCT images against their unwatermarked copies.

Writes DIR/results.json, DIR/table.md, DIR/roc.png, DIR/samples.png.

    python benchmarks/image_watermark.py --out DIR --run RUN --sweep 4:0,2:0,5:2,7:3,7:5

instead measures the quality / robustness trade-off of the ring band (``R:INNER``: rings INNER+1..R)
at the native size: FID-digits of N watermarked samples and Tree-Ring AUC / TPR at 1 % FPR clean and
under noise, blur and JPEG (DIR/sweep.md, DIR/sweep.json), and

    python benchmarks/image_watermark.py --out DIR --run RUN --wrong-keys 200 [--radius R --inner I]

how often the detector (p < 0.01) accepts N watermarked samples under K other keys (DIR/wrong_keys_R_I.json).
"""
from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageFilter

import genzoo as gz
from genzoo.safety import dwt_dct
from genzoo.safety.image_files import from_uint8, to_uint8
from genzoo.safety.tree_ring import TreeRingKey, detect, invert, key_pattern, sample_watermarked, score_latents

TRAIN = dict(steps=3000, batch_size=64, overrides={"num_classes": "None", "block_out_channels": "16,32,32"})
NOISE_SIGMA = 0.1           # Gaussian noise std on the [0, 1] scale (25.5 grey levels)
BLUR_RADIUS = {16: 1.0, 256: 4.0}  # Pillow GaussianBlur radius in pixels: native / published
JPEG_QUALITY = 25
CROP_AREA = 0.75            # central crop keeping 75 % of the area (86.6 % of each side), resized back (bicubic)
BRIGHTNESS = 1.5
ROTATION = 15.0             # degrees, bilinear, black corners


def attack(name: str, im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """One attack on a Pillow image (parameters in the constants above)."""
    w, h = im.size
    if name == "clean":
        return im
    if name == "noise":
        arr = np.asarray(im, dtype=np.float64) + rng.normal(0, NOISE_SIGMA * 255, np.asarray(im).shape)
        return Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8))
    if name == "blur":
        return im.filter(ImageFilter.GaussianBlur(BLUR_RADIUS[w]))
    if name == "jpeg":
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=JPEG_QUALITY)
        return Image.open(io.BytesIO(buf.getvalue())).convert(im.mode)
    if name == "crop":
        side = CROP_AREA ** 0.5
        cw, ch = round(w * side), round(h * side)
        left, top = (w - cw) // 2, (h - ch) // 2
        return im.crop((left, top, left + cw, top + ch)).resize((w, h), Image.Resampling.BICUBIC)
    if name == "brightness":
        return ImageEnhance.Brightness(im).enhance(BRIGHTNESS)
    if name == "rotation":
        return im.rotate(ROTATION, resample=Image.Resampling.BILINEAR)
    raise ValueError(name)


ATTACKS = ("clean", "noise", "blur", "jpeg", "crop", "brightness", "rotation")
ATTACK_TEXT = {"clean": "none", "noise": f"Gaussian noise sigma = {NOISE_SIGMA} (of 1)",
               "blur": "Gaussian blur radius 1 px (16x16) / 4 px (256x256)", "jpeg": f"JPEG q = {JPEG_QUALITY} (Pillow)",
               "crop": "central crop 75 % of the area + bicubic resize back", "brightness": f"brightness x{BRIGHTNESS}",
               "rotation": f"rotation {ROTATION:g} deg (bilinear)"}


def attacked(images: np.ndarray, name: str, seed: int) -> np.ndarray:
    """(N, H, W, C) uint8 -> the same after ``attack`` (noise drawn from one seeded generator per set)."""
    rng = np.random.default_rng(seed)
    out = []
    for arr in images:
        im = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
        res = np.asarray(attack(name, im, rng))
        out.append(res[..., None] if res.ndim == 2 else res)
    return np.stack(out)


def to_model(images: np.ndarray, size: int) -> torch.Tensor:
    """Published RGB images -> grey, box-downsampled to the model's size, in [-1, 1]."""
    arrs = [np.asarray(Image.fromarray(a).convert("L").resize((size, size), Image.Resampling.BOX)) for a in images]
    return from_uint8(np.stack(arrs)[..., None])


def rates(pos: np.ndarray, neg: np.ndarray, pos_flag: np.ndarray, neg_flag: np.ndarray) -> dict:
    """AUC, TPR at FPR <= 1 % (higher score = watermarked) and the detector's own TPR / FPR."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    s = np.r_[pos, neg]
    fpr, tpr, _ = roc_curve(y, s)
    return {"auc": float(roc_auc_score(y, s)), "tpr_at_1fpr": float(tpr[fpr <= 0.01].max()),
            "tpr_p01": float(pos_flag.mean()), "fpr_p01": float(neg_flag.mean()), "roc": (fpr.tolist(), tpr.tolist())}


def tree_ring_scores(model, images: torch.Tensor, key: TreeRingKey, steps: int):
    res = detect(model, images, key, steps=steps)
    return np.array([-r["distance"] for r in res]), np.array([r["watermarked"] for r in res])


def dwt_scores(images: np.ndarray, key: int):
    res = dwt_dct.detect(images, key)
    return np.array([r["bit_accuracy"] for r in res]), np.array([r["watermarked"] for r in res])


def fid(samples: torch.Tensor, test) -> float:
    return float(gz.evaluate(samples, test, metrics=["fid"])["fid"])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--run", type=Path, help="a trained image ddpm (default: train one into OUT/model)")
    ap.add_argument("--n", type=int, default=200, help="watermarked and clean samples each")
    ap.add_argument("--key", type=int, default=20231)
    ap.add_argument("--radius", type=int, default=4)
    ap.add_argument("--inner", type=int, default=0, help="Tree-Ring rings 1..INNER left free (0: full disc)")
    ap.add_argument("--steps", type=int, default=50, help="DDIM steps for sampling and for inversion")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pattern", default="rand", choices=["rings", "rand"], help="Tree-Ring key pattern")
    ap.add_argument("--sweep", help="R:INNER,... ring bands to compare (needs --run)")
    ap.add_argument("--wrong-keys", type=int, default=0, help="score the watermarked samples under this many other keys")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    run = args.run
    if run is None:
        from genzoo.cli.runs import train_run

        run = train_run("ddpm", "digits16", out=args.out / "model", seed=args.seed, progress=False, overwrite=True, **TRAIN)
    t_train = time.time() - t0
    model = gz.load(run).eval()
    if args.sweep:
        return sweep(model, args)
    if args.wrong_keys:
        return wrong_keys(model, args)
    size = model.config.shape[-1]
    key = TreeRingKey(args.key, args.radius, inner=args.inner, pattern=args.pattern)
    marked = sample_watermarked(model, args.n, key, generator=torch.Generator().manual_seed(args.seed), steps=args.steps)
    clean = model.sample(args.n, generator=torch.Generator().manual_seed(args.seed), sampler="ddim", eta=0.0,
                         steps=args.steps)
    t_sample = time.time() - t0 - t_train
    wm8, cl8 = to_uint8(marked), to_uint8(clean)                     # native (N, 16, 16, 1)
    up = dwt_dct.upsample_factor(size, size)
    pub_tr = dwt_dct.upsample(dwt_dct.as_rgb_batch(wm8))            # published 256x256 RGB
    pub_cl = dwt_dct.upsample(dwt_dct.as_rgb_batch(cl8))
    pub_dwt = dwt_dct.embed(cl8, args.key)                          # DWT-DCT on the same clean samples
    psnr = float(10 * np.log10(255 ** 2 / np.mean((pub_dwt.astype(np.float64) - pub_cl) ** 2)))
    rows = {}
    for i, name in enumerate(ATTACKS):
        seed = 1000 + i
        row = {}
        pos, pf = tree_ring_scores(model, from_uint8(attacked(wm8, name, seed)), key, args.steps)
        neg, nf = tree_ring_scores(model, from_uint8(attacked(cl8, name, seed + 500)), key, args.steps)
        row["tree_ring_16"] = rates(pos, neg, pf, nf)
        pos, pf = tree_ring_scores(model, to_model(attacked(pub_tr, name, seed), size), key, args.steps)
        neg, nf = tree_ring_scores(model, to_model(attacked(pub_cl, name, seed + 500), size), key, args.steps)
        row["tree_ring_256"] = rates(pos, neg, pf, nf)
        pos, pf = dwt_scores(attacked(pub_dwt, name, seed), args.key)
        neg, nf = dwt_scores(attacked(pub_cl, name, seed + 500), args.key)
        row["dwt_dct_256"] = rates(pos, neg, pf, nf)
        rows[name] = row
        print(name, {k: (round(v["auc"], 3), round(v["tpr_at_1fpr"], 3)) for k, v in row.items()}, flush=True)
    t_detect = time.time() - t0 - t_train - t_sample
    test = gz.load_dataset("digits16", split="test")
    train = gz.load_dataset("digits16", split="train")
    floor_idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed))[: args.n]
    quality = {"fid_watermarked": fid(marked, test), "fid_clean": fid(clean, test),
               "fid_floor_real_train": fid(train.x[floor_idx], test), "dwt_dct_psnr_db": psnr,
               "mean_abs_pixel_change_tree_ring": float((marked - clean).abs().mean() * 127.5)}
    seconds = {"train": t_train, "sample": t_sample, "detect_all": t_detect, "total": time.time() - t0}
    results = {"run": str(run), "n": args.n, "key": args.key, "radius": args.radius, "inner": args.inner,
               "pattern": args.pattern, "steps": args.steps,
               "upsample": up, "attacks": ATTACK_TEXT, "rows": rows, "quality": quality, "seconds": seconds,
               "torch": torch.__version__}
    save_outputs(args.out, results, marked, clean)
    return results


def wrong_keys(model, args) -> dict:
    """Detection rate of N watermarked (8-bit) samples under their key and under K other keys."""
    key = TreeRingKey(args.key, args.radius, inner=args.inner, pattern=args.pattern)
    marked = sample_watermarked(model, args.n, key, generator=torch.Generator().manual_seed(args.seed), steps=args.steps)
    latents = invert(model, from_uint8(to_uint8(marked)), args.steps)

    def rate(k: TreeRingKey) -> float:
        return float((score_latents(latents, k)["p_value"] < 0.01).double().mean())

    others = np.array([rate(TreeRingKey(args.key + 1 + j, args.radius, inner=args.inner, pattern=args.pattern)) for j in range(args.wrong_keys)])
    out = {"n": args.n, "radius": args.radius, "inner": args.inner, "pattern": args.pattern, "own_key_tpr": rate(key), "wrong_keys": args.wrong_keys,
           "wrong_key_detection_rate": float(others.mean()), "wrong_keys_accepting_half": float((others > 0.5).mean())}
    (args.out / f"wrong_keys_{args.radius}_{args.inner}{'' if args.pattern == 'rings' else '_' + args.pattern}.json").write_text(json.dumps(out, indent=1))
    print(out)
    return out


SWEEP_ATTACKS = ("clean", "noise", "blur", "jpeg")


def sweep(model, args) -> dict:
    """FID and native-size robustness for each ring band of ``args.sweep`` (module docstring)."""
    test = gz.load_dataset("digits16", split="test")
    def gen():
        return torch.Generator().manual_seed(args.seed)

    clean = model.sample(args.n, generator=gen(), sampler="ddim", eta=0.0, steps=args.steps)
    cl8 = to_uint8(clean)
    out = {"n": args.n, "steps": args.steps, "fid_clean": fid(clean, test), "bands": {}}
    for band in args.sweep.split(","):
        radius, inner = (int(v) for v in band.split(":"))
        key = TreeRingKey(args.key, radius, inner=inner, pattern=args.pattern)
        marked = sample_watermarked(model, args.n, key, generator=gen(), steps=args.steps)
        wm8 = to_uint8(marked)
        row = {"fid": fid(marked, test), "coefficients": int(key_pattern(key, *model.config.shape[1:])[1].sum())}
        for i, name in enumerate(SWEEP_ATTACKS):
            pos, pf = tree_ring_scores(model, from_uint8(attacked(wm8, name, 1000 + i)), key, args.steps)
            neg, nf = tree_ring_scores(model, from_uint8(attacked(cl8, name, 1500 + i)), key, args.steps)
            r = rates(pos, neg, pf, nf)
            r.pop("roc")
            row[name] = r
        out["bands"][band] = row
        print(band, row["fid"], {k: round(row[k]["auc"], 3) for k in SWEEP_ATTACKS}, flush=True)
    lines = [f"N = {args.n} watermarked + {args.n} clean 16x16 samples, DDIM {args.steps}; FID-digits of the clean "
             f"samples {out['fid_clean']:.1f}.", "",
             "| rings | masked coefficients | FID-digits | " + " | ".join(f"{a} AUC / TPR@1%FPR" for a in SWEEP_ATTACKS) + " |",
             "|---|---|---|" + "---|" * len(SWEEP_ATTACKS)]
    for band, row in out["bands"].items():
        radius, inner = band.split(":")
        lines.append(f"| {int(inner) + 1}..{radius} | {row['coefficients']} | {row['fid']:.0f} | "
                     + " | ".join(f"{row[a]['auc']:.3f} / {row[a]['tpr_at_1fpr']:.2f}" for a in SWEEP_ATTACKS) + " |")
    (args.out / "sweep.json").write_text(json.dumps(out, indent=1))
    (args.out / "sweep.md").write_text("\n".join(lines) + "\n")
    return out


def save_outputs(out: Path, results: dict, marked: torch.Tensor, clean: torch.Tensor) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genzoo.plotting import image_grid

    rows = results["rows"]
    fig, axes = plt.subplots(1, len(rows), figsize=(3 * len(rows), 3.2), sharey=True)
    labels = {"tree_ring_16": "Tree-Ring 16x16", "tree_ring_256": "Tree-Ring 256x256", "dwt_dct_256": "DWT-DCT 256x256"}
    for ax, (name, row) in zip(axes, rows.items()):
        for method, r in row.items():
            fpr, tpr = r["roc"]
            ax.plot(np.maximum(fpr, 1e-3), tpr, label=f"{labels[method]} ({r['auc']:.2f})")
        ax.set_xscale("log")
        ax.set_xlim(1e-3, 1)
        ax.axvline(0.01, color="grey", lw=0.5, ls=":")
        ax.set_title(name)
        ax.set_xlabel("FPR")
        ax.legend(fontsize=6, loc="lower right")
    axes[0].set_ylabel("TPR")
    fig.tight_layout()
    fig.savefig(out / "roc.png", dpi=110)
    plt.close(fig)
    k = min(32, len(marked))
    grid = image_grid(torch.cat([clean[:k], marked[:k]]), nrow=16)
    Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).resize((grid.shape[1] * 3, grid.shape[0] * 3),
                                                                          Image.Resampling.NEAREST).save(out / "samples.png")
    for r in rows.values():
        for m in r.values():
            m.pop("roc")
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "table.md").write_text(table(results))


def table(res: dict) -> str:
    q = res["quality"]
    lines = [f"N = {res['n']} watermarked + {res['n']} clean samples, key {res['key']}, {res.get('pattern', 'rings')} key on rings {res['inner'] + 1}..{res['radius']}, "
             f"DDIM {res['steps']} steps (sampling and inversion).", "",
             "| attack | Tree-Ring 16x16 AUC / TPR@1%FPR | Tree-Ring 256x256 AUC / TPR@1%FPR | "
             "DWT-DCT 256x256 AUC / TPR@1%FPR | p < 0.01 TPR (FPR): TR-16 / TR-256 / DWT |",
             "|---|---|---|---|---|"]
    for name, row in res["rows"].items():
        cells = [f"{row[m]['auc']:.3f} / {row[m]['tpr_at_1fpr']:.3f}" for m in ("tree_ring_16", "tree_ring_256", "dwt_dct_256")]
        own = " / ".join(f"{row[m]['tpr_p01']:.2f} ({row[m]['fpr_p01']:.2f})"
                         for m in ("tree_ring_16", "tree_ring_256", "dwt_dct_256"))
        lines.append(f"| {res['attacks'][name]} | " + " | ".join(cells) + f" | {own} |")
    lines += ["", f"FID-digits vs the digits16 test split (N = {res['n']}): watermarked {q['fid_watermarked']:.1f}, "
              f"clean {q['fid_clean']:.1f}, real train images {q['fid_floor_real_train']:.1f} (floor). "
              f"DWT-DCT PSNR {q['dwt_dct_psnr_db']:.1f} dB vs its unwatermarked copies; Tree-Ring changes the "
              f"image itself (mean |pixel change| vs the paired clean sample {q['mean_abs_pixel_change_tree_ring']:.1f} "
              "of 255).", "",
             "Seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in res["seconds"].items()) + "."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
