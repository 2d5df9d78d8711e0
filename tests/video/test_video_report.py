"""A leaderboard cell of video-diffusion on moving-digits: FVD and consistency scored, a GIF embedded in the HTML."""
from __future__ import annotations

from genzoo.leaderboard.cells import Cell
from genzoo.leaderboard.report import write_reports
from genzoo.leaderboard.runner import run_cell

TINY = {"video-diffusion": {"video": {"steps": 2, "batch_size": 2, "num_samples": 8,
                                      "overrides": {"block_out_channels": (8, 16), "norm_num_groups": 4,
                                                    "temporal_levels": (1,), "sample_steps": 2}}}}


def test_video_cell_scores_and_embeds_a_gif(tmp_path):
    result = run_cell(Cell("video-diffusion", "moving-digits", "video"), tmp_path, quick=True, progress=False, budgets=TINY)
    assert result["metrics"]["fvd"] > 0 and 0 <= result["metrics"]["identity_consistency"] <= 1
    assert "cells/video-diffusion__moving-digits/samples.gif" in result["pictures"] and (tmp_path / "cells" / "video-diffusion__moving-digits" / "samples.gif").is_file()
    html = write_reports([result], tmp_path).read_text()
    assert "data:image/gif;base64," in html and "data:image/png;base64," in html
