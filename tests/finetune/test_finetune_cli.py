"""``genzoo finetune``: an adapter run that generate / eval / sample load with its base (or --base),
--merge writes a standalone model with the same numbers, and bad input is one line, exit 2, nothing written."""
import json

import pytest
import torch

from cli_run import run_cli
from finetune_helpers import tiny_gpt

import genzoo as gz
from genzoo.cli.main import main


@pytest.fixture
def base_dir(tmp_path):
    model = tiny_gpt(vocab_size=256, block_size=32)
    model.save_pretrained(tmp_path / "base")
    return tmp_path / "base"


def finetune(base, out, *extra):
    main_args = ["finetune", str(base), "--data", "pystdlib", "--data-arg", "block_size=32", "--steps", "3",
                 "--batch-size", "4", "--out", str(out), "--no-progress", "--sample-every", "0", *extra]
    try:
        main(main_args)
    except SystemExit as e:
        assert not e.code


def test_finetune_lora_then_load_eval_generate_and_merge(base_dir, tmp_path, capsys):
    out = tmp_path / "x-lora"
    finetune(base_dir, out, "--set", "r=4", "--set", "target_modules=c_attn,c_proj", "--set", "lora_alpha=8", "--merge")
    capsys.readouterr()
    cfg = json.loads((out / "adapter_config.json").read_text())
    assert cfg["peft_type"] == "LORA" and cfg["r"] == 4 and cfg["target_modules"] == ["c_attn", "c_proj"]
    assert cfg["base_model_name_or_path"] == str(base_dir.resolve())
    info = json.loads((out / "run.json").read_text())
    assert info["trainable_parameters"] < info["total_parameters"] / 5
    adapted, merged, base = gz.load(out), gz.load(out / "merged"), gz.load(base_dir)
    x = torch.randint(0, 256, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (adapted(x) - merged(x)).abs().max() < 1e-5
        assert (adapted(x) - base(x)).abs().max() > 1e-6  # training moved the adapter
    code, text, _ = run_cli(["generate", str(out), "def ", "--max-new-tokens", "5", "--greedy"], capsys)
    assert code == 0 and text.startswith("def ")
    code, text, _ = run_cli(["eval", str(out), "--data", "pystdlib", "--data-arg", "block_size=32", "--json",
                             "--base", str(base_dir)], capsys)
    assert code == 0 and json.loads(text)["nll"] > 0


@pytest.mark.parametrize("args, message", [
    (["--set", "r=0", "--set", "target_modules=c_attn"], "r must be a positive integer"),
    (["--set", "target_modules=q_proj"], "match no module of this GPT; its .* named: c_attn, c_fc, c_proj"),
    (["--set", "rank=4"], "no option 'rank'"),
    (["--method", "loha", "--set", "target_modules=c_attn"], "unknown --method 'loha'"),
])
def test_bad_input_is_one_line_and_writes_nothing(base_dir, tmp_path, capsys, args, message):
    import re

    code, _, err = run_cli(["finetune", str(base_dir), "--data", "pystdlib", "--out", str(tmp_path / "o"), *args], capsys)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and re.search(message, err)
    assert not (tmp_path / "o").exists()


def test_existing_output_and_wrong_base_are_refused(base_dir, tmp_path, capsys):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "keep.txt").write_text("mine")
    code, _, err = run_cli(["finetune", str(base_dir), "--data", "pystdlib", "--out", str(tmp_path / "o"),
                            "--set", "target_modules=c_attn"], capsys)
    assert code == 2 and "not empty" in err and (tmp_path / "o" / "keep.txt").read_text() == "mine"
    tiny_gpt(seed=4, vocab_size=256, block_size=32).save_pretrained(tmp_path / "other")
    code, _, err = run_cli(["generate", str(tmp_path / "other"), "x", "--base", str(base_dir)], capsys)
    assert code == 2 and "--base applies to adapter directories" in err


def test_finetune_a_transformers_gpt2_directory(tmp_path, capsys):
    """BASE may be a transformers GPT-2 directory: the adapter records it and loads on it."""
    from genzoo.cli.runs import train_run

    run = train_run("gpt", "pystdlib", steps=1, batch_size=2, out=tmp_path / "run", progress=False, sample_every=0,
                    overrides={"n_layer": "1", "n_embd": "16", "n_head": "2"}, data_args={"block_size": "32"})
    hf = tmp_path / "hf"
    gz.load(run).save_pretrained(hf, format="hf")
    for name in ("tokenizer.json",):  # the run's tokenizer travels with the exported directory
        (hf / name).write_bytes((run / name).read_bytes())
    out = tmp_path / "hf-lora"
    finetune(hf, out, "--set", "r=2", "--set", "target_modules=c_attn")
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == str(hf.resolve())
    capsys.readouterr()
    code, text, _ = run_cli(["generate", str(out), "def ", "--max-new-tokens", "3", "--greedy"], capsys)
    assert code == 0 and text.startswith("def ")
