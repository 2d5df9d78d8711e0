"""HumanEval harness figures: canonical solutions, containment of hostile programs, sandbox throughput,
and (with --run) pass@k and fill-in-the-middle examples of a genzoo code model.

    python benchmarks/humaneval_harness.py --out DIR [--run RUN] [-n 10]

The model figures come from the commands a user types (run here as subprocesses):
``genzoo eval RUN --data humaneval --metrics pass@1,pass@10 -n N`` and
``genzoo generate RUN --prefix ... --suffix ...``. Writes DIR/humaneval.md.
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

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

from genzoo.code import Limits, evaluate_samples, isolated, problems, run_program  # noqa: E402

HOSTILE = {
    "syntax error": "def f(:\n    pass",
    "infinite loop": "while True:\n    pass",
    "memory hog": "x = bytearray(8 << 30)",
    "fork bomb": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
    "output flood": "import sys\nwhile True:\n    sys.stdout.write('x' * 100000)",
    "writes outside its directory": "open(os.path.expanduser('~/../../etc/genzoo-was-here'), 'w')".replace("os.path", "__import__('os').path"),
    "closes stdout/stderr": "import os\nos.close(1)\nos.close(2)\nraise SystemExit(3)",
    "kills its process group": "import os, signal\nos.killpg(os.getpgid(0), signal.SIGKILL)",
}
FIM_EXAMPLES = [("def add(a, b):\n    ", "\n    return result\n"),
                ("for i in range(10):\n    ", "\nprint('done')\n"),
                ("class Point:\n    def __init__(self, x, y):\n        self.x = x\n", "\n\n    def norm(self):\n")]


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def genzoo(*args: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    proc = subprocess.run([sys.executable, "-m", "genzoo", *args], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"genzoo {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--run", type=Path, default=None, help="a genzoo code model (e.g. trained with --data-arg fim=0.5)")
    ap.add_argument("-n", type=int, default=10, help="samples per problem for pass@k")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    lines = [f"# HumanEval harness ({cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()})", ""]

    canon = [{"task_id": t, "completion": p["canonical_solution"]} for t, p in problems().items()]
    lines += ["## Canonical solutions and sandbox throughput", "", "| workers | pass@1 | programs | seconds | programs/s |",
              "|---|---|---|---|---|"]
    for workers in (1, os.cpu_count() or 1):
        t = time.perf_counter()
        scores, _ = evaluate_samples(canon, ks=(1,), workers=workers)
        sec = time.perf_counter() - t
        lines.append(f"| {workers} | {scores['pass@1']:.3f} | {len(canon)} | {sec:.1f} | {len(canon) / sec:.1f} |")
        print(lines[-1], flush=True)

    lines += ["", f"## Hostile programs (limits: {Limits(timeout=2.0)}; namespaces isolate network and files: {isolated()})", "",
              "| program | status | seconds | last line of stderr |", "|---|---|---|---|"]
    for name, src in HOSTILE.items():
        r = run_program(src, Limits(timeout=2.0))
        last = (r.stderr.strip().splitlines() or [""])[-1][:90].replace("|", "/")
        lines.append(f"| {name} | {r.status} | {r.seconds:.2f} | {last} |")
        print(lines[-1], flush=True)

    if args.run is not None:
        t = time.perf_counter()
        cmd = ["eval", str(args.run), "--data", "humaneval", "--metrics", "pass@1,pass@10", "-n", str(args.n), "--json",
               "--results", str(args.out / "humaneval_results.jsonl")]
        if (args.out / "humaneval_results.jsonl").exists():
            (args.out / "humaneval_results.jsonl").unlink()
        scores = json.loads(genzoo(*cmd).strip().splitlines()[-1])
        sec = time.perf_counter() - t
        lines += ["", f"## pass@k of `{args.run.name}`", "", f"`genzoo {' '.join(cmd[:-2])}`  ({sec:.0f} s)", "",
                  "| pass@1 | pass@10 | problems | samples |", "|---|---|---|---|",
                  f"| {scores['pass@1']:.4f} | {scores.get('pass@10', float('nan')):.4f} | {int(scores['problems'])} | {int(scores['samples'])} |"]
        rows = [json.loads(x) for x in (args.out / "humaneval_results.jsonl").read_text().splitlines()]
        syntax_ok = sum(1 for r in rows if "SyntaxError" not in r["result"] and "IndentationError" not in r["result"])
        lines.append(f"\nCompletions that at least parse with the prompt and tests: {syntax_ok}/{len(rows)}.")
        print(lines[-3:], flush=True)
        lines += ["", "## Fill in the middle (greedy)", ""]
        for prefix, suffix in FIM_EXAMPLES:
            text = genzoo("generate", str(args.run), "--prefix", prefix, "--suffix", suffix, "--greedy", "--max-new-tokens", "48")
            lines += ["```python", text.rstrip("\n"), "```", ""]
    (args.out / "humaneval.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / 'humaneval.md'}")


if __name__ == "__main__":
    main()
