"""A tiny 2 x 2 sweep of 1-layer GPTs on pystdlib: writes results, resumes without recomputing, fits,
and gives the same cells on Ray (``ray.init(num_cpus=2)``) as locally."""
from __future__ import annotations

import json
import time

import pytest

import genzoo as gz
from genzoo.cli.runs import load_data
from genzoo.errors import ConfigError
from genzoo.scaling import sweep as S
from genzoo.scaling.fit import load_points

GRID = dict(batch_size=4, block_size=16, eval_examples=16)
SIZES, TOKENS = ["1x16", "1x32"], [256.0, 512.0]
#: fields that depend on the clock or on where the cell ran
TIMING = {"wall_seconds", "cpu_seconds", "train_seconds"}


def cells():
    return S.plan("gpt", "pystdlib", SIZES, TOKENS, **GRID)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    t0 = time.perf_counter()
    S.run_sweep(cells(), out, progress=False)
    print(f"\n2 x 2 sweep in {time.perf_counter() - t0:.1f} s")
    return out


def test_sweep_writes_results_and_resumes(swept, monkeypatch):
    rows = (swept / "results.csv").read_text().splitlines()
    assert rows[0] == ",".join(S.CSV_COLUMNS) and len(rows) == 5
    r = json.loads((swept / "cells" / "1x32__D512" / "result.json").read_text())
    assert r["error"] is None and r["steps"] == 8 and r["D"] == 8 * 4 * 16 and r["N"] < r["N_total"]
    assert r["FLOPs"] == 6 * r["N"] * r["D"] and r["FLOPs_measured"] > 0
    monkeypatch.setattr(S, "run_sweep_cell", lambda *a: pytest.fail("a finished cell was recomputed"))
    S.run_sweep(cells(), swept, progress=False)
    assert (swept / "results.csv").read_text().splitlines() == rows
    points = load_points(swept)
    assert len(points) == 4 and points.loss.max() < 6


def test_sweep_cells_on_ray_equal_local(swept, tmp_path):
    import ray  # a test dependency (the test extra), as in tests/leaderboard/test_ray_executor.py
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        S.run_sweep(cells()[:2], tmp_path, executor="ray", progress=False)
    finally:
        ray.shutdown()
    for cell in cells()[:2]:
        on_ray, local = (json.loads((d / "cells" / cell.key / "result.json").read_text()) for d in (tmp_path, swept))
        assert {k: v for k, v in on_ray.items() if k not in TIMING} == {k: v for k, v in local.items() if k not in TIMING}


@pytest.mark.parametrize("sizes, message", [(["1y16"], "size '1y16': write LxE"), (["n_layer"], "key=value")])
def test_bad_sizes_fail_before_training(sizes, message):
    with pytest.raises(ConfigError, match=message):
        S.plan("gpt", "pystdlib", sizes, TOKENS)


def test_isoflop_plan_gives_each_size_d_equal_c_over_6n():
    cells = S.plan("gpt", "pystdlib", SIZES, flops=[1e9, 4e9], **GRID)
    train = load_data("pystdlib", "train", {"block_size": 16})
    for cell in cells:
        N = S.parameter_counts(gz.build("gpt", train,
                                        **S.size_overrides("gpt", cell.size)))[0]
        assert 6 * N * cell.tokens in (pytest.approx(1e9), pytest.approx(4e9))
    with pytest.raises(ConfigError, match="not both"):
        S.plan("gpt", "pystdlib", SIZES, TOKENS, flops=[1e9])


def test_bad_tokens():
    with pytest.raises(ConfigError, match="--tokens: 'lots' is not a number"):
        S.parse_tokens("1e5,lots")
