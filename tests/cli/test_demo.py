"""``genzoo demo`` end to end with tiny budgets: every part runs and lands in one report."""
import copy

import pytest

from genzoo.cli import demo


@pytest.mark.slow
def test_demo_writes_one_report_with_every_part(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "DEMO_FAMILIES", ["gaussian", "nsf"])
    monkeypatch.setattr(demo, "DEMO_DATASETS", ["8gaussians"])
    gpt_run = copy.deepcopy(demo.GPT_RUN)
    gpt_run["overrides"].update(n_layer=1, n_embd=16, n_head=2)  # the demo's block size and generation length
    gpt_run["budget"].update(steps=3)
    monkeypatch.setattr(demo, "GPT_RUN", gpt_run)
    monkeypatch.setattr(demo, "DDPM_RUN", {**demo.DDPM_RUN, "budget": {"steps": 2, "batch_size": 8, "lr": 1e-3}, "steps": 2})
    report = demo.run_demo(tmp_path / "demo")
    html = report.read_text()
    assert report == tmp_path / "demo" / "report.html"
    assert "failed:" not in html, html[html.find("failed:"):][:300]
    for part in ("Leaderboard subset", "Text generation: genzoo.pipeline", "Image diffusion: DiffusionPipeline"):
        assert part in html
    assert "failed:" not in html, html[html.find("failed:"):][:300]
    assert (tmp_path / "demo" / "ddpm_pipeline_samples.png").stat().st_size > 0
    assert "nsf" in (tmp_path / "demo" / "report.md").read_text()
