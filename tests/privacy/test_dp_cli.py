"""genzoo train --dp-* writes privacy.json, genzoo eval prints ε, bad flags and DP<->plain resume are one-line errors."""
from __future__ import annotations

import json
import warnings

import pytest

from genzoo.cli.main import main


def run(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    return info.value.code, err


def test_train_eval_and_resume_with_dp(tmp_path, capsys):
    out = tmp_path / "g"
    base = ["train", "gaussian", "--data", "8gaussians", "--set", "n_components=8", "--batch-size", "64",
            "--out", str(out), "--no-progress", "--checkpoint-every", "2"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        main([*base, "--steps", "4", "--dp-epsilon", "8", "--dp-delta", "1e-5"])
    report = json.loads((out / "privacy.json").read_text())
    assert report["steps"] == 4 and 0 < report["epsilon"] <= 8 and report["accountant"] == "rdp"
    assert json.loads((out / "run.json").read_text())["privacy"]["epsilon"] == report["epsilon"]
    capsys.readouterr()
    main(["eval", str(out), "--data", "8gaussians", "--max-examples", "64", "--json"])
    assert json.loads(capsys.readouterr().out)["dp_epsilon"] == report["epsilon"]
    code, err = run([*base[:8], "--resume", str(out), "--steps", "6", "--no-progress"], capsys)
    assert code == 2 and len(err) == 1 and "trained with DP-SGD" in err[0]


@pytest.mark.parametrize("flags, needle", [(["--dp-epsilon", "0"], "--dp-epsilon must be a positive"),
                                           (["--dp-epsilon", "0.05"], "unreachable"),
                                           (["--dp-noise-multiplier", "1", "--dp-accountant", "x"], "unknown accountant")])
def test_bad_dp_flags(tmp_path, capsys, flags, needle):
    code, err = run(["train", "gaussian", "--data", "8gaussians", "--steps", "3", "--out", str(tmp_path / "r"),
                     "--no-progress", *flags], capsys)
    assert code == 2 and len(err) == 1 and needle in err[0]
