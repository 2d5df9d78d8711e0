"""`genzoo train --resume DIR --steps N` (extending a finished run) and `--init-from DIR` from the shell."""
from __future__ import annotations

import json

import pytest
import torch

import genzoo as gz
from genzoo.cli.main import main
from genzoo.data.tokenizers import Tokenizer


def run(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert info.value.code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def snapshot(d):
    return {p.relative_to(d): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "g"
    main(["train", "gaussian", "--data", "moons", "--steps", "30", "--out", str(out), "--no-progress"])
    return out


def test_extend_a_finished_30_step_run_to_60(finished, tmp_path, capsys):
    out = tmp_path / "g"
    out.mkdir()
    for rel, blob in snapshot(finished).items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(blob)
    before = snapshot(out)
    assert "steps can only grow" in run(["train", "gaussian", "--data", "moons", "--steps", "20", "--resume", str(out),
                                         "--no-progress"], capsys)
    assert snapshot(out) == before
    main(["train", "gaussian", "--data", "moons", "--steps", "60", "--resume", str(out), "--no-progress"])
    said = capsys.readouterr().out
    assert "extending the run from 30 to 60 steps at step 30" in said
    info = json.loads((out / "run.json").read_text())
    assert info["steps"] == 60 and info["lr_plan"][-1] == {"from_step": 30, "steps": 60, "warmup": 1}
    assert json.loads((out / "checkpoint/trainer_state.json").read_text())["step"] == 60
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 60 and steps == sorted(set(steps)) and 30 in steps
    assert (out / "model.safetensors").read_bytes() != before[next(k for k in before if str(k) == "model.safetensors")]


def test_init_from_a_run_and_its_errors(finished, tmp_path, capsys):
    new = tmp_path / "new"
    main(["train", "gaussian", "--data", "moons", "--steps", "2", "--out", str(new), "--no-progress",
          "--init-from", str(finished)])
    assert json.loads((new / "run.json").read_text())["init_from"] == str(finished)
    assert json.loads((new / "checkpoint/trainer_state.json").read_text())["init_from"] == str(finished)
    for args, needle in [
        (["nsf"], "holds a 'gaussian' model, this run trains 'nsf'"),
        (["gaussian", "--set", "n_components=3"], "weight 'means' has shape (1, 2) there, (3, 2) here"),
        (["gaussian", "--resume", str(finished)], "use one of them"),
    ]:
        line = run(["train", *args[:1], "--data", "moons", "--steps", "2", "--out", str(tmp_path / "bad"),
                    "--no-progress", "--init-from", str(finished), *args[1:]], capsys)
        assert needle in line, line
        assert not (tmp_path / "bad").exists()
    assert "no such directory" in run(["train", "gaussian", "--data", "moons", "--init-from", str(tmp_path / "nowhere"),
                                       "--out", str(tmp_path / "bad")], capsys)


def test_fine_tune_a_transformers_gpt2_dir(tmp_path, capsys):
    transformers = pytest.importorskip("transformers")
    text = tmp_path / "code.py"
    text.write_text("def f(x):\n    return x + 1\n" * 60)
    tok = Tokenizer.train_char(text.read_text())
    torch.manual_seed(0)
    hf = tmp_path / "gpt2"
    transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=tok.vocab_size + 3,
                                                         n_positions=24, bos_token_id=0, eos_token_id=0)).save_pretrained(hf)
    tok.save(hf)
    capsys.readouterr()  # transformers' own progress output
    out = tmp_path / "ft"
    main(["train", "gpt", "--data", f"text:{text}", "--steps", "3", "--batch-size", "4", "--out", str(out),
          "--no-progress", "--init-from", str(hf)])
    model, base = gz.load(out), gz.load(hf)
    assert model.config.block_size == 24 and model.config.activation == base.config.activation == "gelu_tanh"
    assert model.tokenizer.vocab_size == tok.vocab_size
    line = run(["train", "gpt", "--data", f"text:{text}", "--steps", "2", "--out", str(tmp_path / "bad"),
                "--no-progress", "--init-from", str(hf), "--set", "n_embd=32"], capsys)
    assert "weight 'transformer.wte.weight' has shape" in line and "n_embd: 16 there, 32 here" in line
