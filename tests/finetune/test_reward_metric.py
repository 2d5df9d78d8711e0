"""The ``reward`` metric scores a model on prompts of held-out modules that tuning never sees."""
from cli_run import run_cli
from finetune_helpers import char_gpt_dir

import genzoo as gz
from genzoo.finetune.prefs_make import function_prompts, held_out_module


def test_held_out_modules_are_disjoint_from_tuning_prompts():
    train, test = function_prompts("header", "train"), function_prompts("header", "test")
    assert len(test) > 20 and len(train) > 3 * len(test)
    assert not {m for _, m in train} & {m for _, m in test}
    assert all(held_out_module(m) for _, m in test) and not any(held_out_module(m) for _, m in train)


def test_reward_metric_on_held_out_prompts(tmp_path):
    model = gz.load(char_gpt_dir(tmp_path, 96))
    out = gz.evaluate(model, "pystdlib", metrics=["reward"], reward="python-syntax", reward_prompts=3, reward_k=2,
                      max_new_tokens=8)
    assert out["reward_samples"] == 6 and out["reward_failures"] == 0 and 0.0 <= out["reward_mean"] <= 1.0
    again = gz.evaluate(model, "pystdlib", metrics=["reward"], reward_prompts=3, reward_k=2, max_new_tokens=8)
    assert again == out  # seeded prompts and samples


def test_eval_reward_flag_errors(tmp_path, capsys):
    base = char_gpt_dir(tmp_path, 96)
    code, _, err = run_cli(["eval", base, "--data", "pystdlib", "--metrics", "reward", "--reward", "no-such-reward"], capsys)
    assert code == 2 and "no-such-reward" in err and err.count("\n") == 1


def test_reward_metric_reports_the_kl_of_an_adapter_to_its_base(tmp_path):
    from finetune_helpers import randomize_adapters

    from genzoo.finetune import LoraConfig, inject_adapter

    model = gz.load(char_gpt_dir(tmp_path, 96))
    plain = gz.evaluate(model, "pystdlib", metrics=["reward"], reward_prompts=2, reward_k=2, max_new_tokens=8)
    assert "reward_kl" not in plain  # no adapter: no reference to compare with
    inject_adapter(model, LoraConfig(r=2, target_modules=["c_attn", "c_fc"]))
    same = gz.evaluate(model, "pystdlib", metrics=["reward"], reward_prompts=2, reward_k=2, max_new_tokens=8)
    assert abs(same["reward_kl"]) < 1e-5  # LoRA starts as the identity (B = 0): the policy is the reference
    randomize_adapters(model, scale=0.5)
    moved = gz.evaluate(model, "pystdlib", metrics=["reward"], reward_prompts=4, reward_k=8, max_new_tokens=16)
    assert moved["reward_kl"] > 0.03  # samples from the adapted policy: E[log π - log π_ref] = KL > 0
