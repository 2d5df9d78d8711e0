"""LoRA on the diffusion U-Net, with the CLI only: a DDPM trained on all ``digits``, LoRA-tuned on one class.

Runs (and prints) the ``genzoo`` commands a user types:

    genzoo train ddpm --data digits --set num_classes=None --out OUT/base
    genzoo finetune OUT/base --data digits --data-arg classes=3 --method lora --set r=8 \\
        --set target_modules=conv1,conv2,to_q,to_k,to_v,to_out.0,time_emb_proj,linear_1,linear_2 \\
        --steps 200 --batch-size 64 --lr 5e-3 --out OUT/lora-3
    genzoo eval OUT/base   --data digits --data-arg classes=3 --metrics fid,class_share --num-samples 200 --json
    genzoo eval OUT/lora-3 --data digits --data-arg classes=3 --metrics fid,class_share --num-samples 200 --json
    genzoo eval OUT/lora-3 --data digits --data-arg classes=all --metrics fid,class_share --num-samples 200 --json
    genzoo sample OUT/lora-3

``class_share``: the share of samples the shipped digits classifier (the FID network) calls a 3;
``fid``: FID-digits against the real test threes. The base is unconditional (``num_classes=None``):
the class must come from the adapter, not from a label. ``OUT/base`` is reused when it holds a model.
Writes ``OUT/result.json`` and ``OUT/result.md``.

    python benchmarks/finetune_digits.py --out /tmp/ft-digits --digit 3 --base-steps 1000

(the measured run, benchmarks/results/finetune.md: the default 3000-step base takes about an hour on
the shared 2-core CPU).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path


def genzoo(*args: str, capture: bool = False) -> tuple[str, float]:
    """Run ``python -m genzoo.cli.main ARGS``, printing it as ``genzoo ARGS``; (stdout, seconds)."""
    print("$ genzoo " + shlex.join(args), flush=True)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "genzoo.cli.main", *args], check=True, text=True,
                          stdout=subprocess.PIPE if capture else None)
    return (done.stdout or ""), time.perf_counter() - start


def evaluate(run: Path, data_args: list[str], n: int) -> dict:
    out, seconds = genzoo("eval", str(run), "--data", "digits", *data_args, "--metrics", "fid,class_share",
                          "--num-samples", str(n), "--json", capture=True)
    return {**json.loads(out), "seconds": round(seconds, 1)}


def table(result: dict) -> str:
    d = result["digit"]
    rows = [f"| model | share of {d}s | FID-digits vs real {d}s | FID-digits vs all digits |", "|---|---|---|---|"]
    for key, label in (("before", "base (all digits)"), ("after", f"LoRA on {d}s")):
        r = result[key]
        rows.append(f"| {label} | {r['class_share']:.1%} | {r['fid']:.2f} | {r.get('fid_all', float('nan')):.2f} |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/finetune-digits"))
    ap.add_argument("--digit", type=int, default=3)
    ap.add_argument("--base-steps", type=int, default=None, help="default: the family's budget (no --steps)")
    ap.add_argument("--steps", type=int, default=200, help="LoRA steps")
    ap.add_argument("--lr", type=float, default=5e-3, help="LoRA learning rate (2e-3 gave 87%, 5e-3 91.5%)")
    ap.add_argument("--targets", default="conv1,conv2,to_q,to_k,to_v,to_out.0,time_emb_proj,linear_1,linear_2",
                    help="LoRA target_modules (without the time embeddings: 87%% at lr 2e-3)")
    ap.add_argument("--r", type=int, default=8)
    ap.add_argument("--n", type=int, default=200, help="samples per evaluation")
    args = ap.parse_args()

    out, digit = args.out, args.digit
    base, lora = out / "base", out / f"lora-{digit}"
    one = ["--data-arg", f"classes={digit}"]
    seconds = {}
    if not (base / "config.json").exists():
        budget = [] if args.base_steps is None else ["--steps", str(args.base_steps)]
        _, seconds["base_train"] = genzoo("train", "ddpm", "--data", "digits", "--set", "num_classes=None", *budget,
                                          "--out", str(base), "--no-progress")
    _, seconds["lora_train"] = genzoo("finetune", str(base), "--data", "digits", *one, "--method", "lora",
                                      "--set", f"r={args.r}", "--set", f"target_modules={args.targets}",
                                      "--steps", str(args.steps), "--batch-size", "64", "--lr", str(args.lr),
                                      "--out", str(lora), "--overwrite", "--no-progress")
    before, after = evaluate(base, one, args.n), evaluate(lora, one, args.n)
    every = ["--data-arg", "classes=all"]  # the LoRA run recorded classes=3, which eval would reuse
    before["fid_all"], after["fid_all"] = evaluate(base, every, args.n)["fid"], evaluate(lora, every, args.n)["fid"]
    genzoo("sample", str(lora))  # OUT/lora-3/samples.png
    genzoo("sample", str(base))
    run = json.loads((lora / "run.json").read_text())
    base_run = json.loads((base / "run.json").read_text())
    result = {"digit": digit, "base_steps": base_run["steps"], "base_batch_size": base_run["batch_size"],
              "lora_steps": run["steps"], "lora_lr": run["lr"], "lora_batch_size": run["batch_size"], "r": args.r,
              "targets": args.targets, "n": args.n, "trainable": run["trainable_parameters"],
              "total": run["total_parameters"], "before": before, "after": after, "seconds": seconds,
              "threads": os.environ.get("OMP_NUM_THREADS"), "load_average": os.getloadavg(),
              "passes": after["class_share"] >= 0.9}
    (out / "result.json").write_text(json.dumps(result, indent=2))
    (out / "result.md").write_text(table(result) + "\n")
    print(json.dumps(result, indent=2))
    print(table(result))


if __name__ == "__main__":
    main()
