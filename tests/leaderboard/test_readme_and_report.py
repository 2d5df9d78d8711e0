"""The report and the README section from a hand-made board (no training): tables, montages, markers,
and an HTML file whose every embedded picture is a real PNG."""
from __future__ import annotations

import base64
import json
from html.parser import HTMLParser

import pytest
import torch

from genzoo.errors import ConfigError
from genzoo.leaderboard.readme import END, START, update_readme
from genzoo.leaderboard.report import write_reports
from genzoo.plotting import save_samples


def _cell(tmp, model, data, kind, metrics, picture=True):
    pics = []
    if picture:
        rel = f"cells/{model}__{data}/samples.png"
        pts = torch.randn(200, 2) if kind == "2d" else torch.rand(4, 1, 8, 8) * 2 - 1
        save_samples(pts, tmp / rel)
        pics.append(rel)
    return {"model": model, "data": data, "kind": kind, "log_prob_kind": "exact", "metrics": metrics,
            "train_seconds": 12.0, "samples_per_second": 1000.0, "pictures": pics, "error": None,
            "text_samples": ["def f(x):\n    return x"] if kind == "text" else None}


@pytest.fixture()
def board(tmp_path):
    cells = [_cell(tmp_path, "gaussian", "8gaussians", "2d", {"nll": 3.4, "true_entropy": 2.83}),
             _cell(tmp_path, "nsf", "8gaussians", "2d", {"nll": 2.9, "true_entropy": 2.83}),
             _cell(tmp_path, "gan", "8gaussians", "2d", {"mmd": 0.05}, picture=False),
             _cell(tmp_path, "vae", "digits", "image", {"bpd": 1.9, "fid": 10.5}),
             _cell(tmp_path, "gpt", "pystdlib", "text", {"bpc": 2.1, "fid": 0.4}, picture=False),
             {"model": "ebm", "data": "digits", "kind": "image", "error": "RuntimeError: boom", "metrics": {},
              "pictures": []}]
    (tmp_path / "results.json").write_text(json.dumps(
        {"quick": False, "seed": 0, "cells": cells, "machine": "test CPU, 2 cores", "date": "2026-11-25 12:00 UTC"}))
    write_reports(cells, tmp_path, machine="test CPU, 2 cores")
    return tmp_path, cells


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs, self.tables = [], 0

    def handle_starttag(self, tag, attrs):
        self.tables += tag == "table"
        if tag == "img":
            self.srcs.append(dict(attrs)["src"])


def test_html_embeds_real_pngs_and_one_table_per_kind(board):
    out, _ = board
    parser = _Images()
    parser.feed((out / "report.html").read_text())
    assert parser.tables == 3  # 2-D, images, text
    assert len(parser.srcs) == 3
    for src in parser.srcs:
        head, data = src.split(",", 1)
        assert head == "data:image/png;base64"
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "test CPU, 2 cores" in (out / "report.html").read_text()


def test_readme_section_is_replaced_and_the_rest_kept(board, tmp_path_factory):
    out, _ = board
    root = tmp_path_factory.mktemp("repo")
    readme = root / "README.md"
    readme.write_text(f"# title\n\nintro\n\n{START}\nold table\n{END}\n\n## after\ntext\n")
    update_readme(out, readme)
    text = readme.read_text()
    assert text.startswith("# title\n\nintro\n\n") and text.endswith(f"{END}\n\n## after\ntext\n")
    assert "old table" not in text
    assert "2026-11-25 12:00 UTC" in text and "test CPU, 2 cores" in text
    assert "| 8gaussians | nsf | exact | **2.9** | 2.83 |" in text  # the best NLL in bold
    assert "| 8gaussians | gaussian | exact | 3.4 | 2.83 |" in text
    assert "failed: RuntimeError: boom" in text
    assert "| 8gaussians | gan | exact | — | — |" in text  # a missing value is never "best"
    for data in ("8gaussians", "digits"):
        png = root / "docs" / "leaderboard" / f"samples_{data}.png"
        assert png.read_bytes()[:4] == b"\x89PNG"
        assert f"](docs/leaderboard/samples_{data}.png)" in text
    assert "samples_pystdlib" not in text  # text cells have no picture
    update_readme(out, readme)  # idempotent: one section, not two
    assert readme.read_text().count(START) == 1


def test_readme_errors_are_one_line(board, tmp_path):
    out, _ = board
    plain = tmp_path / "PLAIN.md"
    plain.write_text("# no markers\n")
    with pytest.raises(ConfigError, match="leaderboard:start"):
        update_readme(out, plain)
    assert plain.read_text() == "# no markers\n"
    with pytest.raises(ConfigError, match="no results.json"):
        update_readme(tmp_path / "nowhere", plain)
