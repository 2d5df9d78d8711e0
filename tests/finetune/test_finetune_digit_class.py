"""The image must-show, in miniature and through the CLI: a DDPM trained on all digits, LoRA-tuned on
``--data-arg classes=3``, evaluated with ``fid,class_share`` and sampled (benchmarks/finetune_digits.py)."""
import json

from genzoo.cli.main import main

TINY = ["--set", "num_classes=None", "--set", "block_out_channels=8,8", "--set", "attention_levels=1",
        "--set", "sample_steps=2", "--set", "num_train_timesteps=50"]


def cli(*args: str) -> None:
    try:
        main(list(args))
    except SystemExit as e:
        assert not e.code, args


def test_train_finetune_on_one_class_eval_and_sample(tmp_path, capsys):
    base, lora = tmp_path / "base", tmp_path / "lora"
    cli("train", "ddpm", "--data", "digits", *TINY, "--steps", "2", "--batch-size", "8", "--out", str(base),
        "--no-progress", "--sample-every", "0")
    cli("finetune", str(base), "--data", "digits", "--data-arg", "classes=3", "--method", "lora", "--set", "r=2",
        "--set", "target_modules=conv1,conv2,to_q,to_k,to_v,to_out.0", "--steps", "2", "--batch-size", "8",
        "--out", str(lora), "--no-progress", "--sample-every", "0")
    info = json.loads((lora / "run.json").read_text())
    assert info["data_args"] == {"classes": "3"} and info["trainable_parameters"] < info["total_parameters"]
    capsys.readouterr()
    cli("eval", str(lora), "--data", "digits", "--metrics", "fid,class_share", "--num-samples", "16", "--json")
    scores = json.loads(capsys.readouterr().out)  # the run's classes=3 is reused: scored against the threes
    assert 0 <= scores["class_share"] <= 1 and scores["fid"] > 0 and scores["fid_feature_extractor"] == "FID-digits"
    cli("eval", str(base), "--data", "digits[3]", "--metrics", "class_share", "--num-samples", "16", "--json")
    assert 0 <= json.loads(capsys.readouterr().out)["class_share"] <= 1  # the name form digits[3] loads too
    cli("sample", str(lora), "-n", "4")
    assert (lora / "samples.png").is_file()
