"""Scaling-law fits: planted-law recovery (Approach 3 within 5 %), Approach 1/2 exponents, CSV input and
one-line errors, the bootstrap's cost (printed, not asserted)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genzoo.errors import DataError
from genzoo.scaling.fit import FitNotConverged, approach1, approach2, fit_chinchilla, kaplan, load_points, make_points

SRC = str(Path(__file__).resolve().parents[2] / "src")
LAW = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}  # Hoffmann et al. 2022, eq. 10


def planted(N, D, noise=0.002, seed=0):
    N, D = np.asarray(N, float), np.asarray(D, float)
    L = LAW["E"] + LAW["A"] / N ** LAW["alpha"] + LAW["B"] / D ** LAW["beta"]
    return L * np.exp(np.random.default_rng(seed).normal(0, noise, L.shape))


def grid(k=8):
    N, D = np.meshgrid(np.logspace(6, 9, k), np.logspace(8, 11, k), indexing="ij")
    return N.ravel(), D.ravel()


def write_csv(path, header, rows):
    path.write_text(",".join(header) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def test_planted_law_is_recovered_within_5_percent_with_intervals():
    N, D = grid()
    fit = fit_chinchilla(make_points(N, D, planted(N, D)), bootstrap=4000)
    for name, true in LAW.items():
        assert abs(getattr(fit, name) / true - 1) < 0.05, (name, getattr(fit, name), true)
        lo, hi = fit.intervals[name]
        assert lo <= getattr(fit, name) <= hi
    assert fit.bootstrap_failures < 40
    a = LAW["beta"] / (LAW["alpha"] + LAW["beta"])
    assert abs(fit.a - a) < 0.02 and abs(fit.a + fit.b - 1) < 1e-12
    print(f"\n4000 bootstrap resamples of {len(N)} points in {fit.bootstrap_seconds:.2f} s "
          f"({fit.bootstrap_failures} did not converge)")


def test_approach_1_and_2_exponents_on_planted_data():
    a = LAW["beta"] / (LAW["alpha"] + LAW["beta"])
    # IsoFLOP profiles: for each budget C, sizes around the optimum and D = C / 6N
    C = np.logspace(18, 22, 5)
    N = np.concatenate([np.logspace(np.log10(c) / 2 - 2.5, np.log10(c) / 2 + 0.5, 15) for c in C])
    D = np.repeat(C, 15) / (6 * N)
    points = make_points(N, D, planted(N, D, noise=0.0005))
    two = approach2(points)
    assert abs(two["a"] - a) < 0.03 and abs(two["b"] - (1 - a)) < 0.03, two
    one = approach1(points)
    assert abs(one["a"] - a) < 0.1 and abs(one["a"] + one["b"] - 1) < 0.02, one
    k = kaplan(make_points(*grid(), planted(*grid())))
    assert 0 < k["alpha_N"] < LAW["alpha"] and 0 < k["alpha_D"] < LAW["beta"]  # E and the other term flatten them


def test_a_grid_without_isoflop_groups_is_a_one_line_error():
    N, D = grid(3)
    with pytest.raises(DataError, match="IsoFLOP"):
        approach2(make_points(N * np.arange(1, 10), D, planted(N, D)))


def test_csv_with_flops_instead_of_d(tmp_path):
    N, D = grid(4)
    L = planted(N, D)
    path = write_csv(tmp_path / "p.csv", ["n", "FLOPs", "Loss"], zip(N, 6 * N * D, L))
    points = load_points(path)
    np.testing.assert_allclose(points.D, D, rtol=1e-9)
    np.testing.assert_allclose(points.loss, L)


@pytest.mark.parametrize("header, rows, message", [
    (["N", "tokens", "val"], [[1, 2, 3]], "lacks column(s) D (or FLOPs), loss; it has: N, tokens, val"),
    (["N", "D", "loss"], [[1e6, 1e9, 2.0], [0, 1e9, 2.0]], "N must be finite and positive; point 2 has N=0"),
    (["N", "D", "loss"], [[1e6, -1e9, 2.0]], "D must be finite and positive; point 1 has D=-1e+09"),
    (["N", "D", "loss"], [[1e6, 1e9, "nan"]], "loss must be finite and positive"),
    (["N", "D", "loss"], [[1e6, 1e9, "x"]], "line 2: loss='x' is not a number"),
])
def test_bad_csvs_are_one_line_errors(tmp_path, header, rows, message):
    with pytest.raises(DataError) as e:
        load_points(write_csv(tmp_path / "p.csv", header, rows))
    assert message in str(e.value) and "\n" not in str(e.value)


def test_fewer_points_than_parameters():
    with pytest.raises(DataError, match="needs more points than that; got 5"):
        fit_chinchilla(make_points([1e6] * 5, [1e9] * 5, [2.0] * 5), bootstrap=0)


def test_a_fit_that_does_not_converge_reports_its_best_point(monkeypatch):
    from genzoo.scaling import fit as F

    real = F._minimise
    monkeypatch.setattr(F, "_minimise", lambda *a: _capped(real(*a)))
    N, D = grid(3)
    with pytest.raises(FitNotConverged, match=r"did not converge \(.*\); best point E=.*alpha=.*Huber loss"):
        fit_chinchilla(make_points(N, D, planted(N, D)), bootstrap=0)


def _capped(res):
    res.success, res.message, res.jac = False, "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT", res.jac + 1.0
    return res


def run_cli(*args):
    env = dict(os.environ, PYTHONPATH=SRC)
    return subprocess.run([sys.executable, "-m", "genzoo.cli.main", *args], capture_output=True, text=True, env=env, timeout=120)


def test_cli_fit_json_and_plots(tmp_path):
    N, D = grid(6)
    path = write_csv(tmp_path / "p.csv", ["N", "D", "loss"], zip(N, D, planted(N, D)))
    proc = run_cli("scaling", "fit", "--csv", str(path), "--json", "--bootstrap", "200", "--plots", str(tmp_path / "fig"))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for name in ("E", "A", "B", "alpha", "beta"):
        assert name in out and len(out["intervals"][name]) == 2
    assert "a" in out["approach1"] and "a" in out["approach2"]  # a log-spaced N x D grid has equal-FLOP diagonals
    assert {Path(p).name for p in out["plots"]} == {"loss_vs_compute.png", "isoflop.png", "frontier.png", "residuals.png"}
    proc = run_cli("scaling", "fit", "--csv", str(write_csv(tmp_path / "bad.csv", ["N", "flops_"], [[1, 2]])))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "lacks column(s) D (or FLOPs), loss" in proc.stderr
