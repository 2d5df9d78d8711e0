"""``genzoo finetune --method dpo|ipo|kto|reward`` and ``genzoo prefs make`` on a tiny random GPT: DPO
lowers its loss on the training pairs, the results load with ``gz.load`` (and export), bad input is one
line, exit 2, nothing written."""
import json
import math

import pytest
import torch

from cli_run import run_cli
from finetune_helpers import char_gpt_dir

import genzoo as gz
from genzoo.finetune.dpo import completion_log_probs, dpo_loss
from genzoo.finetune.prefs_data import PreferencePair, load_prefs, read_prefs, write_prefs
from genzoo.finetune.reward import GPTRewardModel

NAMES = "abcdefgh"


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("prefs")
    char_gpt_dir(root, block_size=48)
    pairs = [PreferencePair(f"def {n}(x):\n", f"    return x + {i}\n", f"    pass {i}\n") for i, n in enumerate(NAMES)]
    write_prefs(root / "prefs.jsonl", pairs)
    return root / "base"


def finetune(base, out, method, *extra, data=None, capsys=None):
    args = ["finetune", base, "--method", method, "--data", data or base.parent / "prefs.jsonl", "--steps", "3",
            "--batch-size", "4", "--out", out, "--no-progress", "--sample-every", "0", *extra]
    return run_cli(args, capsys)


def dpo_on_pairs(policy, reference, data):
    batch = data.batch(torch.arange(len(data)))
    ids = torch.cat([batch["chosen_ids"], batch["rejected_ids"]])
    mask = torch.cat([batch["chosen_mask"], batch["rejected_mask"]])
    with torch.no_grad():
        return float(dpo_loss(*completion_log_probs(policy, ids, mask).chunk(2),
                              *completion_log_probs(reference, ids, mask).chunk(2), beta=0.1))


def test_dpo_lowers_its_loss_and_loads_generates_and_merges(base_dir, tmp_path, capsys):
    out = tmp_path / "dpo"
    code, text, err = finetune(base_dir, out, "dpo", "--lr", "3e-2", "--merge", capsys=capsys)
    assert code == 0, err
    info = json.loads((out / "run.json").read_text())
    assert info["reference"] == "base with adapters disabled" and info["adapter"] == "lora" and info["pairs"] == 8
    assert (out / "adapter_config.json").is_file() and not (out / "model.safetensors").exists()
    base, policy = gz.load(base_dir), gz.load(out)
    data = load_prefs(base_dir.parent / "prefs.jsonl", base)
    assert dpo_on_pairs(base, base, data) == pytest.approx(math.log(2))  # LoRA starts at the base
    assert dpo_on_pairs(policy, base, data) < math.log(2) - 0.01
    merged = gz.load(out / "merged")
    x = data.batch(torch.arange(2))["chosen_ids"]
    with torch.no_grad():
        assert (merged(x) - policy(x)).abs().max() < 1e-5
    generated = merged.generate(x[:, :6], max_new_tokens=4, do_sample=True, generator=torch.Generator().manual_seed(0))
    assert generated.shape == (2, 10)
    merged.save_pretrained(tmp_path / "hf", format="hf")
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["architectures"] == ["GPT2LMHeadModel"]


@pytest.mark.parametrize("method,extra,reference", [
    ("ipo", ["--set", "precompute_ref=true", "--set", "beta=0.5"], "precomputed"),
    ("kto", ["--set", "adapter=full", "--set", "desirable_weight=1.5"], "frozen copy"),
])
def test_ipo_and_kto_runs(base_dir, tmp_path, capsys, method, extra, reference):
    code, _, err = finetune(base_dir, tmp_path / method, method, *extra, capsys=capsys)
    assert code == 0, err
    info = json.loads((tmp_path / method / "run.json").read_text())
    assert info["loss"] == method and info["reference"] == reference and math.isfinite(info["final"]["loss"])
    assert ("kl" in info["final"]) == (method == "kto")


def test_reward_model_reports_held_out_accuracy_and_exports_to_transformers(base_dir, tmp_path, capsys):
    transformers = pytest.importorskip("transformers")
    out = tmp_path / "rm"
    code, text, err = finetune(base_dir, out, "reward", "--set", "held_out=0.25", capsys=capsys)
    assert code == 0, err
    info = json.loads((out / "run.json").read_text())
    assert info["held_out_pairs"] == 2 and f"held-out pair accuracy: {info['held_out_accuracy']:.3f}" in text
    model = gz.load(out)
    assert isinstance(model, GPTRewardModel) and model.tokenizer is not None
    model.save_pretrained(tmp_path / "hf", format="hf")
    hf = transformers.GPT2ForSequenceClassification.from_pretrained(tmp_path / "hf").eval()
    data = load_prefs(base_dir.parent / "prefs.jsonl", model, add_eos=False)
    b = data.batch(torch.arange(len(data)))
    mask = torch.arange(b["rejected_ids"].shape[1]) < b["rejected_length"][:, None]
    with torch.no_grad():
        ours = model.rewards(b["rejected_ids"], b["rejected_length"])
        theirs = hf(b["rejected_ids"], attention_mask=mask.long()).logits.squeeze(-1)
    assert (ours - theirs).abs().max() < 1e-5
    code, _, err = run_cli(["prefs", "make", base_dir, "--reward", f"model:{out}", "--prompts", "2", "--k", "2",
                            "--max-new-tokens", "6", "--out", tmp_path / "p.jsonl", "--no-progress"], capsys)
    assert code == 0, err


def test_prefs_make_is_seeded_and_readable(base_dir, tmp_path, capsys):
    args = ["prefs", "make", base_dir, "--reward", "finetune_helpers:mean_code_point", "--prompts", "3", "--k", "3",
            "--max-new-tokens", "10", "--no-progress"]
    code, text, err = run_cli([*args, "--out", tmp_path / "a.jsonl"], capsys)
    assert code == 0 and text.startswith("wrote "), err
    code, _, _ = run_cli([*args, "--out", tmp_path / "b.jsonl"], capsys)
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()
    pairs = read_prefs(tmp_path / "a.jsonl")
    assert pairs and all(p.prompt.startswith("def ") and p.extra["score_chosen"] > p.extra["score_rejected"] for p in pairs)
    code, _, err = run_cli([*args, "--out", tmp_path / "a.jsonl"], capsys)
    assert code == 2 and "exists; pass --overwrite" in err


@pytest.mark.parametrize("case", ["malformed", "beta", "long-prompt", "not-jsonl", "merge-full", "unknown-key",
                                  "reward-nan", "no-pairs"])
def test_bad_input_is_one_line_and_writes_nothing(base_dir, tmp_path, capsys, case):
    out, data = tmp_path / "out", tmp_path / "p.jsonl"
    data.write_text('{"prompt": "def f(x):\\n", "chosen": "    return x\\n", "rejected": "    pass\\n"}\n')
    extra, expected = [], None
    if case == "malformed":
        data.write_text(data.read_text() + '{"prompt": "def g():\\n", "chosen": "x"\n')
        expected = "p.jsonl line 2: not valid JSON"
    elif case == "beta":
        extra, expected = ["--set", "beta=-1"], "beta=-1.0 must be a positive number"
    elif case == "long-prompt":
        data.write_text(json.dumps({"prompt": "def " + "a" * 60 + "():\n", "chosen": "  x", "rejected": "  y"}) + "\n")
        expected = "line 1: the prompt is 68 tokens but the context is 48"
    elif case == "not-jsonl":
        data, expected = "pystdlib", "--method dpo reads preference pairs: --data PATH.jsonl"
    elif case == "merge-full":
        extra, expected = ["--set", "adapter=full", "--merge"], "--merge applies to adapter runs"
    elif case == "unknown-key":
        extra, expected = ["--set", "betta=0.2"], "has no option 'betta'"
    if case in ("reward-nan", "no-pairs"):
        reward = "finetune_helpers:always_nan" if case == "reward-nan" else "python-syntax"
        code, _, err = run_cli(["prefs", "make", base_dir, "--reward", reward, "--prompts", "2", "--k", "2",
                                "--max-new-tokens", "4", "--out", out, "--no-progress"], capsys)
        expected = "failed on all 4 samples (first: returned nan)" if case == "reward-nan" else "no pairs"
    else:
        code, _, err = finetune(base_dir, out, "dpo", *extra, data=data, capsys=capsys)
    assert code == 2 and err.startswith("error: ") and expected in err and err.count("\n") == 1, err
    assert not out.exists()
