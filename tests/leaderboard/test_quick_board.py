"""Regression guard: the quick leaderboard runs every family, every cell is finite, and families
with a likelihood beat the single-Gaussian baseline on a 2-D mixture (a broken family fails CI)."""
from __future__ import annotations

import json
import math

import pytest

import genzoo as gz
from genzoo.leaderboard import run_leaderboard
from genzoo.leaderboard.runner import cell_is_healthy
from genzoo.registry import MODELS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    report = run_leaderboard(out, quick=True, datasets=["8gaussians"], progress=False, jobs=2)
    return out, report, json.loads((out / "results.json").read_text())["cells"]


def test_every_2d_family_has_a_healthy_cell(board):
    _, _, cells = board
    data = gz.load_dataset("8gaussians")
    two_d = {name for name in gz.list_models() if MODELS.get(name).supports(data)}
    assert {c["model"] for c in cells} == two_d
    broken = {c["model"]: c.get("error") or c["metrics"] for c in cells if not cell_is_healthy(c)}
    assert not broken, broken


def test_likelihood_families_beat_the_baseline(board):
    _, _, cells = board
    nll = {c["model"]: c["metrics"]["nll"] for c in cells if "nll" in c["metrics"]}
    baseline = nll["gaussian"]
    entropy = gz.load_dataset("8gaussians", "test").info["entropy"]
    assert baseline > entropy  # one Gaussian cannot fit eight modes
    worse = {m: v for m, v in nll.items() if m != "gaussian" and not v < baseline}
    assert not worse, f"families no better than the gaussian baseline ({baseline:.3f} nats): {worse}"


def test_sample_quality_is_finite_for_every_family(board):
    _, _, cells = board
    for c in cells:
        assert math.isfinite(c["metrics"]["mmd"]), c["model"]


def test_reports_are_written(board):
    out, report, cells = board
    html = report.read_text()
    assert report.name == "report.html" and "<table>" in html and "data:image/png;base64," in html
    md = (out / "report.md").read_text()
    for c in cells:
        assert f"| {c['data']} | {c['model']} |" in md


def test_resume_skips_finished_cells(board, monkeypatch):
    out, _, cells = board
    import genzoo.leaderboard.runner as runner

    def fail(*a, **k):
        raise AssertionError("a finished cell was recomputed")

    monkeypatch.setattr(runner, "run_cell", fail)
    run_leaderboard(out, quick=True, datasets=["8gaussians"], resume=True, progress=False)


def test_a_2d_set_without_modes_skips_mode_coverage(tmp_path):
    """moons has no mixture modes: its cells must not fail on the mode-coverage metric."""
    run_leaderboard(tmp_path, quick=True, families=["gaussian"], datasets=["moons"], progress=False)
    (cell,) = json.loads((tmp_path / "results.json").read_text())["cells"]
    assert cell_is_healthy(cell), cell.get("error")
    assert "nll" in cell["metrics"] and "modes_covered" not in cell["metrics"]
