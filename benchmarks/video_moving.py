"""Video diffusion on ``moving-digits``: direction accuracy, FVD-moving against the real-data floor, and
prediction of 8 frames from 4 (docs/video.md; the RESULTS.md section "Video").

    PYTHONPATH=src python benchmarks/video_moving.py --out benchmarks/results/video_moving          # train + score
    PYTHONPATH=src python benchmarks/video_moving.py --run RUN --out benchmarks/results/video_moving  # score a run

Without ``--run`` it trains with the CLI defaults, ``genzoo train video-diffusion --data moving-digits
--out OUT/run`` (one model: label-conditioned with null-label dropout and, on half the clips, given
the first 4 of 12 frames). Then, on ``num_samples`` clips each (``gz.evaluate``, ``metrics/video_metrics.py``):

- the real floor: FVD-moving between ``num_samples`` train clips and the test set (the same estimator
  on real data, so what a perfect model would score at this sample size);
- label-conditioned samples (directions 0..7 in turn, classifier-free guidance ``--guidance``):
  ``fvd``, ``direction_accuracy`` (and the classifier's accuracy on real clips), ``frame_consistency``;
- prediction: the first 4 frames of the first ``num_samples`` test clips given, 8 generated
  (``prediction``: MSE against the truth and against repeating the 4th frame, FVD of the completed
  clips, whether the classifier still reads the true direction and digit).

Writes OUT/results.json, OUT/section.md (the RESULTS.md section) and GIFs: OUT/conditioned.gif (two
clips per direction, 8 per row) and OUT/prediction.gif (pairs side by side: truth, prediction).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def train(out: Path) -> float:
    """``genzoo train video-diffusion --data moving-digits --out OUT/run``; returns wall seconds."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "genzoo", "train", "video-diffusion", "--data", "moving-digits",
                    "--out", str(out), "--seed", "0", "--no-progress"], check=True, env=env)
    return time.perf_counter() - t


def load_run(run: Path):
    """The saved model of ``run``, or (a run still training) its latest checkpoint's EMA weights; and the step."""
    import genzoo as gz
    from genzoo.models.video_diffusion import VideoDiffusion, VideoDiffusionConfig
    from genzoo.training.checkpoint import find_checkpoint, load_checkpoint

    if (run / "config.json").is_file():
        model = gz.load(run)
        return model, json.loads((run / "run.json").read_text()).get("steps") if (run / "run.json").is_file() else None
    ckpt = load_checkpoint(find_checkpoint(run))
    model = VideoDiffusion(VideoDiffusionConfig.from_dict(ckpt["state"]["config"]["model_config"]))
    missing, unexpected = model.load_state_dict(ckpt["ema"] or ckpt["model"], strict=False)
    if unexpected or any(k in dict(model.named_parameters()) for k in missing):
        raise SystemExit(f"checkpoint of {run} does not fit the model: missing {missing}, unexpected {unexpected}")
    return model, ckpt["state"]["step"]


def timed(fn, *args, **kw):
    t = time.perf_counter()
    return fn(*args, **kw), time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "video_moving")
    parser.add_argument("--run", type=Path, help="a trained video-diffusion run (default: train OUT/run); "
                        "a run still training is scored at its latest checkpoint (EMA weights)")
    parser.add_argument("--num-samples", type=int, default=256)
    parser.add_argument("--guidance", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample-steps", type=int, help="DDIM steps (default: the model's, 25)")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

    import genzoo as gz
    from genzoo.video_gif import save_gif

    args.out.mkdir(parents=True, exist_ok=True)
    train_s = None
    run = args.run
    if run is None:
        run = args.out / "run"
        train_s = train(run)
    model, step = load_run(run)
    model.eval()
    if args.sample_steps:
        model.config.sample_steps = args.sample_steps
    test = gz.load_dataset("moving-digits", "test", frames=model.config.shape[0])
    real = gz.load_dataset("moving-digits", "train", frames=model.config.shape[0])
    n = args.num_samples
    results = {"run": str(run), "trained_steps": step, "num_samples": n, "guidance": args.guidance,
               "train_seconds": train_s, "sample_steps": model.config.sample_steps, "sampler": model.config.sampler}

    floor = gz.evaluate(real.x[:n], test, metrics=["fvd", "frame_consistency"])
    results["real"] = {"fvd": floor["fvd"], "frame_consistency": floor["frame_consistency"],
                       "identity_consistency": floor["identity_consistency"]}
    cond, results["conditioned_seconds"] = timed(gz.evaluate, model, test, metrics=["fvd", "direction_accuracy", "frame_consistency"],
                                                 num_samples=n, seed=args.seed, guidance_scale=args.guidance)
    results["conditioned"] = cond
    pred, results["prediction_seconds"] = timed(gz.evaluate, model, test, metrics=["prediction"], num_samples=n, seed=args.seed)
    results["prediction"] = pred

    gen = torch.Generator().manual_seed(args.seed)
    clips = model.sample(16, generator=gen, class_labels=torch.arange(16) % 8, guidance_scale=args.guidance)
    save_gif(clips, args.out / "conditioned.gif", nrow=8)
    context = test.x[:8, :model.config.context_frames]
    predicted = model.sample(8, generator=gen, context=context)
    save_gif(torch.stack([test.x[:8], predicted], 1).flatten(0, 1), args.out / "prediction.gif", nrow=8)

    results["machine"] = f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {os.cpu_count()} cores"
    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (args.out / "section.md").write_text(section(results))
    print(section(results))


def section(r: dict) -> str:
    c, p, real = r["conditioned"], r["prediction"], r["real"]
    k, f = int(p["prediction_context_frames"]), int(p["prediction_frames"])
    rows = [
        "| what | FVD-moving | direction acc. | digit acc. | frame consistency | identity consistency | MSE |",
        "|---|---|---|---|---|---|---|",
        f"| real clips (train vs test: the floor) | {real['fvd']:.2f} | {c['direction_accuracy_real']:.3f} (classifier) | — | "
        f"{real['frame_consistency']:.3f} | {real['identity_consistency']:.3f} | — |",
        f"| label-conditioned, guidance {r['guidance']:g} | {c['fvd']:.2f} | {c['direction_accuracy']:.3f} | — | "
        f"{c['frame_consistency']:.3f} | {c['identity_consistency']:.3f} | — |",
        f"| prediction: {f} frames from {k} | {p['prediction_fvd']:.2f} | {p['prediction_direction_accuracy']:.3f} | "
        f"{p['prediction_content_accuracy']:.3f} | — | — | {p['prediction_mse']:.4f} (repeat frame {k}: {p['prediction_mse_static']:.4f}) |",
    ]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    main()
