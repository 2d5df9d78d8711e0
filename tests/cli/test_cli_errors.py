"""CLI error paths: one `error:` line on stderr, exit code 2, no traceback, nothing overwritten."""
from __future__ import annotations

import subprocess
import sys

import pytest

from genzoo.cli.main import main


def run(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    err = capsys.readouterr().err
    return info.value.code, err


def assert_one_line_error(code, err, *needles):
    assert code == 2, err
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


CASES = [
    (["train", "gausian", "--data", "moons"], ["unknown model 'gausian'", "did you mean 'gaussian'"]),
    (["train", "gaussian", "--data", "moon"], ["unknown dataset 'moon'", "did you mean 'moons'"]),
    (["train", "gaussian", "--data", "moons", "--steps", "abc"], ["Invalid value for '--steps'", "integer"]),
    (["train", "gaussian", "--data", "moons", "--steps", "0"], ["--steps must be a positive integer"]),
    (["train", "gaussian", "--data", "moons", "--lr", "-1"], ["--lr must be positive"]),
    (["train", "gaussian", "--data", "moons", "--set", "n_components"], ["--set expects key=value"]),
    (["train", "gaussian", "--data", "moons", "--set", "n_componets=3"], ["did you mean 'n_components'"]),
    (["train", "gaussian", "--data", "moons", "--bogus"], ["No such option: --bogus"]),
    (["eval", "nowhere", "--data", "moons"], ["no such directory"]),
    (["sample", "nowhere"], ["no such directory"]),
    (["frobnicate"], ["No such command 'frobnicate'"]),
]


@pytest.mark.parametrize("args,needles", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_error_table(args, needles, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(*run(args, capsys), *needles)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("config.json"))


def test_out_under_a_file(capsys, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    code, err = run(["train", "gaussian", "--data", "moons", "--out", str(blocker / "run")], capsys)
    assert_one_line_error(code, err, "is a file, not a directory")
    assert blocker.read_text() == "x"


def test_nan_data(capsys, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,2\n3,nan\n")
    assert_one_line_error(*run(["train", "gaussian", "--data", f"csv:{table}", "--out", str(tmp_path / "r")], capsys),
                          "NaN", "row 2")


def test_wrong_data_kind(capsys, tmp_path):
    assert_one_line_error(*run(["train", "gaussian", "--data", "pystdlib", "--out", str(tmp_path / "r")], capsys),
                          "does not support text data")


def test_finished_run_is_not_overwritten(capsys, tmp_path):
    out = tmp_path / "r"
    assert main(["train", "gaussian", "--data", "moons", "--steps", "5", "--out", str(out), "--no-progress"]) is None
    before = (out / "model.safetensors").read_bytes()
    assert_one_line_error(*run(["train", "gaussian", "--data", "moons", "--steps", "5", "--out", str(out)], capsys),
                          "already holds a trained model", "--resume")
    assert (out / "model.safetensors").read_bytes() == before
    # evaluating on data of another shape is a one-line error too
    assert_one_line_error(*run(["eval", str(out), "--data", "digits"], capsys), "shape")
    assert_one_line_error(*run(["eval", str(out), "--data", "moons", "--metrics", "nl"], capsys), "did you mean 'nll'")
    assert_one_line_error(*run(["train", "gaussian", "--data", "moons", "--resume", str(tmp_path / "fresh")], capsys),
                          "no checkpoint to resume")
    # --overwrite replaces the run: the old run's sample grids do not stay behind as if they were the new one's
    (out / "samples" / "step_000999.png").write_bytes(b"old")
    assert main(["train", "gaussian", "--data", "moons", "--steps", "3", "--out", str(out), "--no-progress", "--overwrite"]) is None
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_000003.png"]


def test_console_script_exit_code(tmp_path):
    exe = [sys.executable, "-m", "genzoo.cli.main"]
    proc = subprocess.run(exe + ["train", "nosuch", "--data", "moons"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("error: unknown model 'nosuch'")
    assert "Traceback" not in proc.stderr
    proc = subprocess.run(exe + ["--debug", "train", "nosuch", "--data", "moons"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode != 0 and "Traceback" in proc.stderr
