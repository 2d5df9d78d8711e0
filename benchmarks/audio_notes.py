"""Must-show for audio: WaveNet and audio diffusion on ``notes`` (docs/audio.md).

Trains both models with the CLI's code path (``genzoo train wavenet|audio-diffusion --data notes``,
the families' default budgets unless ``--*-steps`` say otherwise), then reports for each:
pitch / timbre accuracy for the conditioning labels, FAD-notes and LSD against the test split next
to the real-data floor (train clips scored the same way), WaveNet's bits per sample, and generation
speed in clips per second (WaveNet with and without the Fast-WaveNet cache; whether the two gave the
same clips, checked in float64 on 2 clips). Writes a markdown section to ``--results`` and prints it.

    PYTHONPATH=src nice -n 19 python benchmarks/audio_notes.py --out runs/audio --results benchmarks/results/audio_notes.md

A run directory that already holds a model is reused (pass --retrain to train again).
"""
from __future__ import annotations

import argparse
import copy
import json
import platform
import time
from pathlib import Path

import torch

import genzoo as gz
from genzoo.cli.runs import train_run

METRICS = ["pitch_accuracy", "fad", "lsd"]


def train(family: str, out: Path, steps: int | None, retrain: bool) -> tuple[Path, float | None]:
    if (out / "config.json").is_file() and not retrain:
        return out, None
    start = time.perf_counter()
    train_run(family, "notes", steps=steps, out=out, overwrite=True, progress=False, sample_every=0)
    return out, time.perf_counter() - start


def clips_per_second(model, n: int, **kw) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    x = model.sample(n, generator=torch.Generator().manual_seed(0), **kw)
    return n / (time.perf_counter() - start), x


def fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("runs/audio"))
    p.add_argument("--results", type=Path, default=Path("benchmarks/results/audio_notes.md"))
    p.add_argument("--wavenet-steps", type=int, default=None)
    p.add_argument("--diffusion-steps", type=int, default=None)
    p.add_argument("--num-samples", type=int, default=96, help="generated clips scored per model (2 per label)")
    p.add_argument("--speed-n", type=int, default=8, help="clips per speed measurement")
    p.add_argument("--sample-steps", type=int, default=None, help="diffusion sampler steps (default: the model's, DDIM 50)")
    p.add_argument("--families", default="wavenet,audio-diffusion")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--retrain", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    test, train_set = gz.load_dataset("notes", split="test"), gz.load_dataset("notes", split="train")
    n = args.num_samples

    rows = []
    floor = gz.evaluate(train_set.x[:n], test, metrics=METRICS, labels=train_set.y[:n])
    rows.append({"model": "real train clips (floor)", **floor})
    for family, steps in (("wavenet", args.wavenet_steps), ("audio-diffusion", args.diffusion_steps)):
        if family not in args.families.split(","):
            continue
        run, seconds = train(family, args.out / family, steps, args.retrain)
        model = gz.load(run).eval()
        if family == "audio-diffusion" and args.sample_steps:
            model.config.sample_steps = args.sample_steps
        info = json.loads((run / "run.json").read_text())
        start = time.perf_counter()
        scores = gz.evaluate(model, test, metrics=METRICS, num_samples=n, seed=0)
        row = {"model": family + (f" (DDIM {model.config.sample_steps})" if family == "audio-diffusion" else ""), "steps": info["steps"], "batch": info["batch_size"],
               "train_min": None if seconds is None else seconds / 60, "eval_s": time.perf_counter() - start, **scores}
        if family == "wavenet":
            row["bits_per_sample"] = gz.evaluate(model, test, metrics=["nll"], max_examples=64)["bpd"]
            row["clips_per_s"], _ = clips_per_second(model, args.speed_n, cache=True)
            row["clips_per_s_uncached"], _ = clips_per_second(model, args.speed_n, cache=False)
            exact = copy.deepcopy(model).double()  # equality of the two paths, free of float32 rounding
            row["same_clips"] = bool(torch.equal(clips_per_second(exact, 2, cache=True)[1],
                                                 clips_per_second(exact, 2, cache=False)[1]))
        else:
            row["clips_per_s"], _ = clips_per_second(model, args.speed_n)
        rows.append(row)
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)

    cols = ["model", "steps", "batch", "train_min", "pitch_accuracy", "timbre_accuracy", "fad", "lsd",
            "bits_per_sample", "clips_per_s", "clips_per_s_uncached", "same_clips"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c, "—")) if r.get(c) is not None else "—" for c in cols) + " |" for r in rows]
    text = (f"{n} generated clips per model ({n / test.num_classes:g} per pitch x timbre label), scored against the 512 test notes; "
            f"floor = {n} real train notes. Speed: {args.speed_n} clips of 2,000 samples, {args.threads} thread(s), "
            f"{platform.processor() or platform.machine()}, torch {torch.__version__}.\n\n" + "\n".join(lines) + "\n")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
