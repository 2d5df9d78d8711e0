"""The whole ``genzoo train`` command against zuko's bare training loop, plus CLI start-up times.

    python benchmarks/bench_cli.py                       # 3 rounds, 2000 steps
    python benchmarks/bench_cli.py --threads 1           # every child with one torch thread
    python benchmarks/bench_cli.py --before /tmp/old/src # also time another source tree (e.g. main)

Each round runs, one after the other (so a shared machine's load hits all alike):

* ``genzoo train nsf --data moons --steps 2000 --batch-size 256 --lr 1e-3 --out TMP --overwrite``
  as a subprocess (``python -m genzoo.cli.main``, what the ``genzoo`` script runs), wall clock from
  start to exit: start-up, data, training, sample grids, checkpoints, loss.png, the saved model;
* the anchor (/work/shared/bench/anchors/zuko_moons.py, NSF part) in its own subprocess: two-moons
  data, ``zuko.flows.NSF(2, transforms=4, hidden_features=(64, 64))``, ``torch.optim.Adam(lr=1e-3)``,
  2000 steps of batch 256. The anchor's clock (``loop``) starts after the imports, the data, the
  model and the optimizer; that is the issue's "zuko's bare 2000-step loop". The child's whole wall
  time is printed too.

Reported: per round the command's seconds, the loop's seconds and their ratio (the issue's target:
<= 0.67), and the median. Then ``genzoo --help`` / ``genzoo list`` wall times (median of 5) and the
largest top-level imports of ``list`` and of a 1-step ``train`` (``python -X importtime``).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

ZUKO_LOOP = r"""
import json, sys, time, torch, zuko
from sklearn.datasets import make_moons
torch.manual_seed(0)
train = torch.tensor(make_moons(20000, noise=0.05, random_state=0)[0], dtype=torch.float32)
flow = zuko.flows.NSF(2, transforms=4, hidden_features=(64, 64))
opt = torch.optim.Adam(flow.parameters(), 1e-3)
steps = int(sys.argv[1])
t = time.perf_counter()
for i in range(steps):
    x = train[torch.randint(0, len(train), (256,))]
    loss = -flow().log_prob(x).mean()
    opt.zero_grad(); loss.backward(); opt.step()
print(json.dumps({"loop": time.perf_counter() - t}))
"""


def child_env(src: Path, threads: int | None) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(src))
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds from start to exit, and stdout (a failure raises with the child's stderr)."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return seconds, proc.stdout


def genzoo_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "genzoo.cli.main", *args]


def train_cmd(steps: int, out: Path) -> list[str]:
    return genzoo_cmd("train", "nsf", "--data", "moons", "--steps", str(steps), "--batch-size", "256",
                      "--lr", "1e-3", "--out", str(out), "--overwrite")


def top_imports(cmd: list[str], env: dict[str, str], n: int = 8) -> tuple[float, list[tuple[str, float]]]:
    """Total seconds of top-level imports and the ``n`` largest (``-X importtime``, cumulative)."""
    proc = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], env=env, capture_output=True, text=True)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:"):].split("|")
        if not name.startswith("  "):  # top level: imported by the script, not by another module
            rows.append((name.strip(), int(cumulative) / 1e6))
    rows.sort(key=lambda r: -r[1])
    return sum(r[1] for r in rows), rows[:n]


def load_line() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS for every child (default: torch's)")
    ap.add_argument("--before", type=Path, default=None, help="another genzoo src/ to time in the same rounds")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args()
    trees = {"genzoo": SRC} | ({"genzoo (before)": args.before} if args.before else {})
    envs = {name: child_env(src, args.threads) for name, src in trees.items()}
    zuko_env = child_env(SRC, args.threads)
    print(f"load {load_line()}, {os.cpu_count()} cores, threads {args.threads or 'torch default'}, steps {args.steps}")
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            row = {"load": load_line()}
            for name, env in envs.items():
                row[name], _ = timed(train_cmd(args.steps, Path(tmp) / name.replace(" ", "_")), env)
            whole, out = timed([sys.executable, "-c", ZUKO_LOOP, str(args.steps)], zuko_env)
            row["zuko loop"], row["zuko whole"] = json.loads(out.strip().splitlines()[-1])["loop"], whole
            rounds.append(row)
            ratios = "  ".join(f"{n} {row[n]:.1f}s = {row[n] / row['zuko loop']:.2f}x" for n in envs)
            print(f"round {r + 1}: {ratios}  | zuko loop {row['zuko loop']:.1f}s (whole child {whole:.1f}s)  load {row['load']}",
                  flush=True)
    summary = {n: statistics.median(r[n] / r["zuko loop"] for r in rounds) for n in envs}
    print("median ratio (command / zuko loop): " + ", ".join(f"{n} {v:.2f}x" for n, v in summary.items()))

    startup = {}
    for name, env in envs.items():
        for what in ("--help", "list"):
            times = [timed(genzoo_cmd(what), env)[0] for _ in range(5)]
            startup[f"{name} {what}"] = statistics.median(times)
            print(f"{name} {what}: median {statistics.median(times):.2f}s of 5 (min {min(times):.2f}s)  load {load_line()}")
    imports = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, env in envs.items():
            for label, cmd in (("list", genzoo_cmd("list")), ("train 1 step", train_cmd(1, Path(tmp) / "one"))):
                total, top = top_imports(cmd, env)
                imports[f"{name} {label}"] = {"total": total, "top": top}
                print(f"{name} {label}: imports {total:.2f}s; " + ", ".join(f"{m} {s:.2f}" for m, s in top))
    if args.json:
        args.json.write_text(json.dumps({"rounds": rounds, "median_ratio": summary, "startup": startup,
                                         "imports": imports, "threads": args.threads, "steps": args.steps}, indent=1))


if __name__ == "__main__":
    main()
