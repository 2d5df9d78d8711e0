"""Data-parallel throughput against process count: ``genzoo train ... --nproc N`` at one global batch.

For each process count the same command trains the same steps with the same global batch (so the
runs compute the same thing); the table gives the training loop's examples/s (from the run's
``metrics.jsonl``, rank 0's clock) and the whole command's wall time (start-up and rendezvous
included). ``1`` is the ordinary one-process command with all cores as torch threads, ``1t`` the same
with one thread (what each rank of a 2-process run gets on 2 cores), N > 1 ``--nproc N``.

    python benchmarks/bench_distributed.py                          # ddpm on digits and gpt on pystdlib: 1, 1t, 2
    python benchmarks/bench_distributed.py --nprocs 1,2,4 --steps 100
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

JOBS = {  # name -> genzoo train arguments (the family's default model for the data)
    "ddpm-digits": ["ddpm", "--data", "digits", "--batch-size", "128"],
    "gpt-pystdlib": ["gpt", "--data", "pystdlib", "--batch-size", "32"],
}


def run(job: list[str], nproc: str, steps: int, out: Path) -> dict:
    cmd = [sys.executable, "-m", "genzoo", "train", *job, "--steps", str(steps), "--out", str(out), "--overwrite",
           "--no-progress", "--sample-every", "0", "--checkpoint-every", "0"]
    env = dict(os.environ)
    if nproc == "1t":
        env["OMP_NUM_THREADS"] = "1"
    elif int(nproc) > 1:
        cmd += ["--nproc", nproc]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    batch = int(job[job.index("--batch-size") + 1])
    # the loop's time after the first logged window (which holds the first steps' one-off costs)
    first, last = log[0], log[-1]
    rate = (last["step"] - first["step"]) * batch / max(last["elapsed"] - first["elapsed"], 1e-9)
    return {"nproc": nproc, "examples_per_s": rate, "wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", default=",".join(JOBS))
    ap.add_argument("--nprocs", default="1,1t,2")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"# {cpu}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("| job | processes (1t: 1 thread) | examples/s (loop, best round) | vs the first | whole command (s) |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.jobs.split(","):
            results: dict[str, list[dict]] = {}
            for _ in range(args.rounds):  # interleaved, so slow minutes hit every process count
                for n in args.nprocs.split(","):
                    results.setdefault(n, []).append(run(JOBS[name], n, args.steps, Path(tmp) / f"{name}-{n}"))
            best = {n: max(rs, key=lambda r: r["examples_per_s"]) for n, rs in results.items()}
            base = next(iter(best.values()))["examples_per_s"]
            for n, r in best.items():
                print(f"| {name} | {n} | {r['examples_per_s']:.0f} | {r['examples_per_s'] / base:.2f}x | {r['wall_s']:.1f} |")
    print(f"# load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
