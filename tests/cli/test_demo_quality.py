"""``make demo`` as a newcomer sees it: the real demo (its own budgets) clears every quality floor.

This runs the whole demo (about 6 minutes on 2 cores): on 8gaussians every family covers all 8
modes, on digits every trained family beats the Gaussian baseline's FID-digits, the char GPT's test
loss is Python-like, the text-to-image grid follows its prompts. The floors are ``demo.FLOORS``; the report shows the same checks.
"""
import json

import pytest

from genzoo.cli import demo


@pytest.mark.slow
def test_the_demo_meets_its_quality_floors(tmp_path):
    demo.run_demo(tmp_path / "demo")
    results = json.loads((tmp_path / "demo" / "results.json").read_text())
    missed = [f"{c['what']}: {c['detail']}" for c in results["checks"] if not c["met"]]
    assert not missed, "\n".join(missed)
    shown = {c["what"] for c in results["checks"]}
    assert {"char GPT on pystdlib", "DDPM pipeline on digits", "gaussian on 8gaussians",
            "text to image on shapes-captions"} <= shown
    assert len(shown) == len(demo.demo_cells()) + 3
