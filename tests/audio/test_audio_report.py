"""Audio in the leaderboard report: a cell writes a WAV of its samples and report.html embeds a player."""
from __future__ import annotations

import base64

import pytest

from genzoo.data.notes import make_notes
from genzoo.leaderboard.report import write_reports
from genzoo.leaderboard.runner import _pictures

sf = pytest.importorskip("soundfile")


class _Test:
    kind, info = "audio", {"sample_rate": 8000}


def test_audio_cell_gets_a_player(tmp_path):
    samples = make_notes(10, 0, 8000, 400)["x"]
    cell = tmp_path / "cells" / "wavenet__notes"
    cell.mkdir(parents=True)
    pics = _pictures(None, _Test(), cell, samples)
    assert pics == ["samples.wav"]
    wave, rate = sf.read(str(cell / "samples.wav"))
    assert rate == 8000 and len(wave) == 8 * 400 + 7 * 800  # the first 8 clips, 0.1 s apart
    result = {"model": "wavenet", "data": "notes", "kind": "audio", "log_prob_kind": "exact", "train_seconds": 1.0,
              "samples_per_second": 2.0, "metrics": {"pitch_accuracy": 0.9, "fad": 3.0},
              "pictures": ["cells/wavenet__notes/samples.wav"], "error": None}
    write_reports([result], tmp_path)
    page = (tmp_path / "report.html").read_text()
    payload = base64.b64encode((cell / "samples.wav").read_bytes()).decode()
    assert f'<audio controls src="data:audio/wav;base64,{payload}"></audio>' in page and "<h2>Audio</h2>" in page
    assert "[cells/wavenet__notes/samples.wav](cells/wavenet__notes/samples.wav)" in (tmp_path / "report.md").read_text()
