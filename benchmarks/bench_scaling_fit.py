"""Planted-law recovery and the cost of the full Approach-3 fit (grid of inits, L-BFGS-B, 4000 bootstrap
resamples), timed end to end through ``genzoo scaling fit`` as a user runs it.

    PYTHONPATH=src python benchmarks/bench_scaling_fit.py [--out benchmarks/results/scaling]

Data: L = E + A/N^alpha + B/D^beta with Hoffmann et al.'s eq. 10 constants, on an 8 x 8 log-spaced grid
(N in 1e6..1e9, D in 1e8..1e11), times exp(noise) with noise ~ N(0, 0.002), seed 0.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

LAW = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/scaling"))
    parser.add_argument("--noise", type=float, default=0.002)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    N, D = (a.ravel() for a in np.meshgrid(np.logspace(6, 9, 8), np.logspace(8, 11, 8), indexing="ij"))
    L = (LAW["E"] + LAW["A"] / N ** LAW["alpha"] + LAW["B"] / D ** LAW["beta"]) * np.exp(
        np.random.default_rng(0).normal(0, args.noise, N.shape))
    csv = args.out / "planted.csv"
    csv.write_text("N,D,loss\n" + "".join(f"{n:.6g},{d:.6g},{x:.9g}\n" for n, d, x in zip(N, D, L)))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "genzoo.cli.main", "scaling", "fit", "--csv", str(csv), "--json",
                           "--bootstrap", "4000", "--plots", str(args.out)], capture_output=True, text=True, check=True,
                          env=dict(os.environ))
    seconds = time.perf_counter() - t0
    fit = json.loads(proc.stdout)
    errors = {k: fit[k] / v - 1 for k, v in LAW.items()}
    summary = {"command_seconds": seconds, "bootstrap_seconds": fit["bootstrap_seconds"],
               "bootstrap_failures": fit["bootstrap_failures"], "relative_errors": errors,
               "fit": {k: fit[k] for k in (*LAW, "a", "b")}, "intervals": fit["intervals"],
               "load_average": os.getloadavg(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    (args.out / "planted_fit.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
