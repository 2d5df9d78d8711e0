"""``genzoo demo`` end to end with tiny budgets: every part runs and lands in one report."""
import copy
import json

import pytest

from genzoo.cli import demo


@pytest.mark.slow
def test_demo_writes_one_report_with_every_part(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "DEMO_BUDGETS", {"gaussian": {"2d": {"steps": 5}}, "nsf": {"2d": {"steps": 5}}})
    monkeypatch.setattr(demo, "DEMO_DATASETS", ["8gaussians"])
    gpt_run = copy.deepcopy(demo.GPT_RUN)
    gpt_run["overrides"].update(n_layer=1, n_embd=16, n_head=2)  # the demo's block size and generation length
    gpt_run["budget"].update(steps=3)
    monkeypatch.setattr(demo, "GPT_RUN", gpt_run)
    monkeypatch.setattr(demo, "DDPM_RUN", {**demo.DDPM_RUN, "budget": {"steps": 2, "batch_size": 8, "lr": 1e-3}, "steps": 2, "samples": 8})
    monkeypatch.setattr(demo, "T2I_RUN", {**demo.T2I_RUN, "budget": {"steps": 3, "batch_size": 8, "lr": 1e-3}, "steps": 2, "seeds": 2,
                                          "overrides": {"autoencoder_steps": 1, "ae_block_out_channels": (8, 8), "ae_norm_num_groups": 4,
                                                        "block_out_channels": (16, 16), "attention_levels": (1,), "attention_head_dim": 8}})
    report = demo.run_demo(tmp_path / "demo")
    html = report.read_text()
    assert report == tmp_path / "demo" / "report.html"
    assert "failed:" not in html, html[html.find("failed:"):][:300]
    for part in ("Leaderboard subset", "Text generation: genzoo.pipeline", "Image diffusion: DiffusionPipeline",
                 "Text to image: genzoo.pipeline"):
        assert part in html
    assert "failed:" not in html, html[html.find("failed:"):][:300]
    assert (tmp_path / "demo" / "ddpm_pipeline_samples.png").stat().st_size > 0
    assert (tmp_path / "demo" / "t2i_prompt_seed_grid.png").stat().st_size > 0
    assert "nsf" in (tmp_path / "demo" / "report.md").read_text()
    assert "Quality checks:" in html  # the checks head the report, met or not (5 steps meet nothing)
    checks = json.loads((tmp_path / "demo" / "results.json").read_text())["checks"]
    assert {c["what"] for c in checks} == {"gaussian on 8gaussians", "nsf on 8gaussians", "char GPT on pystdlib",
                                        "text to image on shapes-captions"}


def test_quality_checks_judge_each_floor():
    cells = [{"model": "gaussian", "data": "digits", "kind": "image", "metrics": {"fid": 400.0}},
             {"model": "made", "data": "digits", "kind": "image", "metrics": {"fid": 370.0}},
             {"model": "vae", "data": "digits", "kind": "image", "metrics": {"fid": 310.0}},
             {"model": "gan", "data": "8gaussians", "kind": "2d", "metrics": {"modes": 7.0, "modes_total": 8.0, "high_quality": 0.95}},
             {"model": "nsf", "data": "8gaussians", "kind": "2d", "metrics": {"modes": 8.0, "modes_total": 8.0, "high_quality": 0.32}},
             {"model": "gaussian", "data": "8gaussians", "kind": "2d", "metrics": {"modes": 8.0, "modes_total": 8.0, "high_quality": 0.3}},
             {"model": "ebm", "data": "8gaussians", "kind": "2d", "error": "boom", "metrics": {}}]
    checks = {what: ok for what, ok, _ in demo.quality_checks(cells, {"text_nll": 2.5, "ddpm_fid": 300.0, "t2i_all_attributes": 0.2})}
    assert checks == {"gaussian on digits": True, "made on digits": False, "vae on digits": True, "gan on 8gaussians": False, "nsf on 8gaussians": False,
                      "gaussian on 8gaussians": True, "ebm on 8gaussians": False, "char GPT on pystdlib": False,
                      "DDPM pipeline on digits": True, "text to image on shapes-captions": False}
