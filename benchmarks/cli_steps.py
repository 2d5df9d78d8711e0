"""Helpers for benchmark scripts that run the ``genzoo`` commands a user types, as subprocesses."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def genzoo(*args) -> str:
    """Run ``genzoo ARGS`` (printed first, as a user would type it); its stdout, or exit with its stderr."""
    cmd = [sys.executable, "-m", "genzoo", *map(str, args)]
    print("$ genzoo " + " ".join(map(str, args)), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(SRC)))
    if proc.returncode != 0:
        raise SystemExit(f"genzoo {' '.join(map(str, args))} failed: {proc.stderr.strip()[-1500:]}")
    return proc.stdout


def last_json(text: str) -> dict:
    """The last line of a ``--json`` command's output, parsed."""
    return json.loads(text.strip().splitlines()[-1])


def once(out: Path, *args, marker: str = "run.json") -> float:
    """``genzoo ARGS --out OUT --no-progress --overwrite`` unless OUT/marker exists (resumable scripts); seconds taken."""
    start = time.perf_counter()
    if not (Path(out) / marker).exists():
        genzoo(*args, "--out", out, "--no-progress", "--overwrite")
    return time.perf_counter() - start
