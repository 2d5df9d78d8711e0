"""Judge the GAN family's *default* command on the 2-D Gaussian mixtures (issue 21).

For each dataset × seed this runs the real CLI with no overrides,

    python -m genzoo.cli.main train gan --data DATA --seed SEED --out OUT --overwrite --no-progress

as a child process (``OMP_NUM_THREADS=1``), takes the child's CPU time (user + sys, from
``resource.getrusage(RUSAGE_CHILDREN)``: the whole command, start-up and saving included), then
judges 10,000 samples of the saved model (sampling seed 123) as the issue does:

- modes = the k-means centres of the training set (scikit-learn ``KMeans``, K = the number of
  mixture components, ``n_init=10``, ``random_state=0``); the script also prints how far each
  centre lies from the nearest known mean in ``data.info["modes"]``;
- a sample is high quality (HQ) when it lies within 3σ of a centre, σ = ``data.info["mode_std"]``;
- a mode is covered when ≥ 1% of the samples are HQ samples nearest to it.

Prints a markdown table (and appends each run to ``--jsonl``). Usage:

    python benchmarks/gan_defaults.py --data 25gaussians,8gaussians --seeds 0,1,2 [--jsonl runs.jsonl]
    python benchmarks/gan_defaults.py --table runs.jsonl     # the markdown table of judged runs
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

import genzoo as gz
from genzoo.metrics.modes import mode_coverage


def child_cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def kmeans_centres(data) -> tuple[torch.Tensor, float]:
    """K-means centres of the training set and the largest distance of a centre to a known mean."""
    from sklearn.cluster import KMeans

    known = torch.tensor(data.info["modes"], dtype=torch.float64)
    km = KMeans(n_clusters=len(known), n_init=10, random_state=0).fit(data.x.double().numpy())
    centres = torch.from_numpy(km.cluster_centers_)
    return centres, float(torch.cdist(centres, known).min(1).values.max())


def run_one(data_name: str, seed: int, out: Path) -> dict:
    cmd = [sys.executable, "-m", "genzoo.cli.main", "train", "gan", "--data", data_name, "--seed", str(seed),
           "--out", str(out), "--overwrite", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    before = child_cpu_seconds()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    cpu = child_cpu_seconds() - before
    data = gz.load_dataset(data_name, split="train")
    centres, offset = kmeans_centres(data)
    model = gz.load(out)
    with torch.no_grad():
        samples = model.sample(10_000, generator=torch.Generator().manual_seed(123))
    cov = mode_coverage(samples, centres, data.info["mode_std"])
    run = json.loads((out / "run.json").read_text())
    return {"data": data_name, "seed": seed, "modes": cov["modes"], "modes_total": cov["modes_total"],
            "high_quality": round(cov["high_quality"], 4), "cpu_min": round(cpu / 60, 2),
            "kmeans_offset": round(offset, 4), "steps": run["steps"], "batch_size": run["batch_size"], "lr": run["lr"]}


def table(rows: list[dict]) -> str:
    lines = ["| data | seed | modes covered | high quality | CPU-min (whole command) | steps, batch, lr |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['data']} | {r['seed']} | {r['modes']}/{r['modes_total']} | {100 * r['high_quality']:.1f}% | "
                     f"{r['cpu_min']:.2f} | {r['steps']}, {r['batch_size']}, {r['lr']:g} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="25gaussians,8gaussians")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--jsonl", type=Path, default=None, help="append each judged run here")
    p.add_argument("--out", type=Path, default=None, help="run directories (default: a temporary one)")
    p.add_argument("--table", type=Path, default=None, help="print the table of the runs in this JSONL and exit")
    a = p.parse_args()
    if a.table is not None:
        print(table([json.loads(line) for line in a.table.read_text().splitlines() if line.strip()]))
        return
    torch.set_num_threads(1)
    root = a.out or Path(tempfile.mkdtemp(prefix="gan_defaults_"))
    rows = []
    for data_name in a.data.split(","):
        for seed in (int(s) for s in a.seeds.split(",")):
            row = run_one(data_name, seed, root / f"{data_name}-s{seed}")
            rows.append(row)
            print(json.dumps(row), flush=True)
            if a.jsonl is not None:
                with a.jsonl.open("a") as f:
                    f.write(json.dumps(row) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
