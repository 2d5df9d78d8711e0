"""``genzoo finetune --method ppo|grpo --reward NAME`` on a tiny random GPT: two steps finish, write
metrics, curves and an adapter that ``gz.load`` reads and that generates; bad input is one line."""
import json
import math

import pytest
import torch

from cli_run import run_cli
from finetune_helpers import char_gpt_dir

import genzoo as gz



@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("rl")
    char_gpt_dir(root, block_size=64)
    return root / "base"


def finetune(base, out, method, *extra, reward="finetune_helpers:space_share", capsys=None):
    args = ["finetune", base, "--method", method, "--reward", reward, "--steps", "2", "--batch-size", "2",
            "--lr", "1e-2", "--out", out, "--no-progress", "--set", "prompts=4", "--set", "max_new_tokens=6", *extra]
    return run_cli(args, capsys)


@pytest.mark.parametrize("method,extra", [
    ("grpo", ["--set", "num_generations=3", "--merge"]),
    ("ppo", ["--set", "ppo_epochs=2", "--set", "num_minibatches=2", "--set", "kl_target=1.0"]),
])
def test_two_steps_write_metrics_and_load(base_dir, tmp_path, capsys, method, extra):
    out = tmp_path / method
    code, text, err = finetune(base_dir, out, method, *extra, capsys=capsys)
    assert code == 0, err
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2]
    for key in ("reward_mean", "kl", "clip_fraction", "loss"):
        assert all(math.isfinite(m[key]) for m in lines), key
    assert (out / "loss.png").is_file() and (out / "reward.png").is_file()
    info = json.loads((out / "run.json").read_text())
    assert info["method"] == method and info["reward_failures"] == 0
    assert info["samples"] == 2 * 2 * (3 if method == "grpo" else 1)
    policy = gz.load(out)
    prompt = torch.tensor([policy.tokenizer.encode("def f(x):\n")])
    generated = policy.generate(prompt, max_new_tokens=4, do_sample=True, generator=torch.Generator().manual_seed(0))
    assert generated.shape[1] <= prompt.shape[1] + 4
    if method == "grpo":
        merged = gz.load(out / "merged")
        with torch.no_grad():
            assert (merged(prompt) - policy(prompt)).abs().max() < 1e-5
    else:
        assert lines[-1]["beta"] != 0.05  # the adaptive controller moved beta after step 1


def test_failing_samples_score_zero_are_counted_and_training_goes_on(base_dir, tmp_path, capsys):
    code, _, err = finetune(base_dir, tmp_path / "f", "grpo", reward="finetune_helpers:some_fail", capsys=capsys)
    assert code == 0, err
    info = json.loads((tmp_path / "f" / "run.json").read_text())
    per_step = [json.loads(line)["reward_failures"] for line in (tmp_path / "f" / "metrics.jsonl").read_text().splitlines()]
    assert 0 < info["reward_failures"] == sum(per_step) < info["samples"]
    assert "returned nan" in info["first_reward_error"]


def test_seeded(base_dir, tmp_path, capsys):
    for name in ("a", "b"):
        assert finetune(base_dir, tmp_path / name, "grpo", capsys=capsys)[0] == 0
    strip = lambda p: [{k: v for k, v in json.loads(line).items() if k != "elapsed"} for line in p.read_text().splitlines()]  # noqa: E731
    assert strip(tmp_path / "a" / "metrics.jsonl") == strip(tmp_path / "b" / "metrics.jsonl")


@pytest.mark.parametrize("case,extra,reward,expected", [
    ("beta-zero", ["--set", "beta=0"], None, "beta=0.0 must be a positive number"),
    ("beta-negative-ppo", ["--set", "beta=-0.1"], None, "beta=-0.1 must be a positive number"),
    ("all-failing", [], "finetune_helpers:always_nan", "failed on all 8 samples (first: returned nan)"),
    ("group-of-one", ["--set", "num_generations=1"], None, "num_generations=1 must be an integer >= 2"),
    ("full", ["--set", "adapter=full"], None, "--set adapter=full is not one of lora, dora, ia3, adapter"),
    ("no-reward", [], "", "needs --reward NAME"),
    ("unknown-key", ["--set", "betta=0.1"], None, "--method grpo has no option 'betta' (did you mean 'beta'?)"),
    ("bad-scale", ["--set", "scale_rewards=grup"], None, "scale_rewards='grup' is not one of group, batch, none"),
])
def test_bad_input_is_one_line(base_dir, tmp_path, capsys, case, extra, reward, expected):
    method = "ppo" if case.endswith("ppo") else "grpo"
    out = tmp_path / "out"
    code, _, err = finetune(base_dir, out, method, *extra, reward=reward if reward is not None else
                            "finetune_helpers:space_share", capsys=capsys)
    assert code == 2 and err.startswith("error: ") and expected in err and err.count("\n") == 1, err
    assert not out.exists()


def test_data_is_refused_for_online_methods(base_dir, tmp_path, capsys):
    code, _, err = run_cli(["finetune", base_dir, "--method", "grpo", "--reward", "python-syntax", "--data", "x.jsonl",
                            "--out", tmp_path / "o"], capsys)
    assert code == 2 and "not --data" in err, err
