"""``run_leaderboard(executor="ray")`` / ``genzoo bench --executor ray``: a local Ray cluster gives the
same results.json as the local executor; a cluster nobody serves is a quick one-line error.

Ray is a test dependency (the ``test`` extra): these tests fail, not skip, when it is missing.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray

from genzoo.leaderboard import ray_executor, run_leaderboard
from genzoo.leaderboard.runner import run_and_record

SRC = str(Path(__file__).resolve().parents[2] / "src")
#: results.json fields that depend on the clock, the machine or where the cells ran, not on the models
TIMING_FIELDS = {"train_seconds", "samples_per_second", "cpu_seconds", "wall_seconds", "date", "machine", "jobs", "executor"}
BOARD = dict(quick=True, families=["gaussian", "maf"], datasets=["moons"], progress=False)  # the two cheapest 2-D cells


def without_timing(value):
    """``value`` (parsed results.json) with every timing/machine field removed, at any depth."""
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k not in TIMING_FIELDS}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_board_equals_the_local_board(local_ray, tmp_path):
    # conftest sets one torch thread, as each Ray task does: float sums then add up in the same order
    t0 = time.perf_counter()
    run_leaderboard(tmp_path / "ray", executor="ray", **BOARD)
    ray_seconds = time.perf_counter() - t0
    run_leaderboard(tmp_path / "local", **BOARD)
    on_ray, local = (json.loads((tmp_path / name / "results.json").read_text()) for name in ("ray", "local"))
    assert [c["error"] for c in on_ray["cells"]] == [None, None]
    assert without_timing(on_ray) == without_timing(local)
    assert on_ray["executor"] == "ray" and "Ray cluster of 1 node(s), 2 CPU(s)" in on_ray["machine"]
    for cell in on_ray["cells"]:
        written = json.loads((tmp_path / "ray" / "cells" / f"{cell['model']}__{cell['data']}" / "result.json").read_text())
        assert written == cell
    assert ray_seconds < 120, f"two quick cells took {ray_seconds:.0f} s on Ray"


def test_a_cell_whose_worker_dies_is_retried(local_ray, tmp_path, monkeypatch):
    died = tmp_path / "died"

    def dies_once(cell, *args):  # a local function: Ray ships it by value to the worker
        if not died.exists():
            died.touch()
            os._exit(1)  # the worker process vanishes, as on a node that fails
        return run_and_record(cell, *args)

    monkeypatch.setattr(ray_executor, "run_and_record", dies_once)
    run_leaderboard(tmp_path / "board", executor="ray", **{**BOARD, "families": ["gaussian"]})
    (cell,) = json.loads((tmp_path / "board" / "results.json").read_text())["cells"]
    assert died.exists() and cell["error"] is None and "nll" in cell["metrics"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=SRC)
    return subprocess.run([sys.executable, "-m", "genzoo.cli.main", *args], capture_output=True, text=True, env=env, timeout=120)


def test_an_address_nobody_serves_is_a_quick_one_line_error(tmp_path):
    with socket.socket() as s:  # a free port on this machine, closed again: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    proc = run_cli("bench", "--quick", "--families", "gaussian", "--datasets", "moons", "--out", str(tmp_path),
                   "--executor", "ray", "--address", f"127.0.0.1:{port}")
    assert time.perf_counter() - t0 < 30
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(f"error: no Ray cluster answers at 127.0.0.1:{port}") and "ray start --head" in proc.stderr


def test_cli_address_without_the_ray_executor_is_a_one_line_error(tmp_path):
    proc = run_cli("bench", "--quick", "--out", str(tmp_path), "--address", "auto")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: an address (auto) is only for the ray executor: --executor ray --address ..."


def test_genzoo_and_the_local_runner_do_not_import_ray():
    code = "import sys, genzoo, genzoo.leaderboard.runner, genzoo.cli.main; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=SRC), check=True)
    assert out.stdout.strip() == "False"


def test_without_ray_installed_the_ray_executor_says_how_to_install_it(tmp_path):
    code = ("import sys; sys.modules['ray'] = None  # import ray now raises ImportError\n"
            "from genzoo.cli.main import main\n"
            f"main(['bench', '--quick', '--families', 'gaussian', '--datasets', 'moons', '--out', {str(tmp_path)!r}, '--executor', 'ray'])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=SRC))
    assert proc.returncode == 2 and proc.stderr.strip() == "error: the ray executor needs Ray: pip install 'genzoo[ray]'"
