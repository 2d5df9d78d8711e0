"""The main CLI flow: train -> eval --json -> sample, on the baseline family."""
from __future__ import annotations

import json

import pytest

import genzoo as gz
from genzoo.cli.main import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "g"
    main(["train", "gaussian", "--data", "8gaussians", "--steps", "500", "--set", "n_components=8",
          "--out", str(out), "--no-progress", "--checkpoint-every", "250"])
    return out


def test_mixture_reaches_true_entropy(trained, capsys):
    capsys.readouterr()
    main(["eval", str(trained), "--data", "8gaussians", "--metrics", "nll", "--json"])
    results = json.loads(capsys.readouterr().out)
    entropy = gz.load_dataset("8gaussians", "test").info["entropy"]
    assert abs(results["nll"] - entropy) / entropy < 0.02, (results, entropy)


def test_run_directory_layout(trained):
    for name in ("config.json", "model.safetensors", "metrics.jsonl", "loss.png", "run.json", "checkpoint"):
        assert (trained / name).exists(), name


def test_sample_png_and_seed(trained, tmp_path):
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    main(["sample", str(trained), "-n", "50", "--seed", "3", "--out", str(a)])
    main(["sample", str(trained), "-n", "50", "--seed", "3", "--out", str(b)])
    assert a.read_bytes() == b.read_bytes()
    main(["sample", str(trained), "-n", "200", "--out", str(tmp_path / "s.png")])
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_list_names_every_family(capsys):
    main(["list"])
    out = capsys.readouterr().out
    for name in gz.list_models():
        assert name in out
    assert "8gaussians" in out and "nll" in out


def test_eval_samples_file_and_num_samples(trained, tmp_path, capsys):
    """`genzoo sample --out F.safetensors` then `genzoo eval F.safetensors`: the same modes figure as
    `genzoo eval RUN --num-samples N` for the same samples (seed 0, one draw of N)."""
    path = tmp_path / "s.safetensors"
    main(["sample", str(trained), "-n", "300", "--out", str(path)])
    capsys.readouterr()
    main(["eval", str(path), "--data", "8gaussians", "--metrics", "modes", "--json"])
    from_file = json.loads(capsys.readouterr().out)
    main(["eval", str(trained), "--data", "8gaussians", "--metrics", "modes", "--num-samples", "300", "--json"])
    from_run = json.loads(capsys.readouterr().out)
    assert from_file == from_run and from_file["modes"] == 8
    with pytest.raises(SystemExit):
        main(["eval", str(trained), "--data", "8gaussians", "--metrics", "modes", "--num-samples", "0"])


def test_eval_max_examples(trained, capsys):
    capsys.readouterr()
    main(["eval", str(trained), "--data", "8gaussians", "--metrics", "nll", "--max-examples", "7", "--json"])
    first7 = json.loads(capsys.readouterr().out)["nll"]
    model, test = gz.load(trained), gz.load_dataset("8gaussians", "test")
    assert abs(first7 + model.log_prob(test.x[:7]).mean().item()) < 1e-5


def test_train_ema_decay_flag(tmp_path):
    """--ema-decay reaches the Trainer and run.json; unset, the family's default for the kind (ebm, 2-D: none)."""
    main(["train", "gaussian", "--data", "moons", "--steps", "3", "--ema-decay", "0", "--out", str(tmp_path / "a"), "--no-progress"])
    assert json.loads((tmp_path / "a" / "run.json").read_text())["ema_decay"] == 0.0
    main(["train", "ebm", "--data", "moons", "--steps", "2", "--batch-size", "8", "--out", str(tmp_path / "b"), "--no-progress"])
    assert json.loads((tmp_path / "b" / "run.json").read_text())["ema_decay"] is None
    with pytest.raises(SystemExit):
        main(["train", "gaussian", "--data", "moons", "--steps", "3", "--ema-decay", "1", "--out", str(tmp_path / "c")])


def test_temperature_is_refused_by_a_model_without_it(trained, capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        main(["sample", str(trained), "-n", "5", "--temperature", "0.7", "--out", str(tmp_path / "t.png")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "--temperature is for autoregressive models, not gaussian" in err
    assert not (tmp_path / "t.png").exists()
