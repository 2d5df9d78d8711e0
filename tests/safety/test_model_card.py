"""Model cards: every saved run and adapter gets a README.md that huggingface_hub.ModelCard parses,
with its data, curation, metrics (values), privacy and provenance; genzoo card RUN prints/refreshes it."""
from __future__ import annotations

import json
import shutil

import pytest
from huggingface_hub import ModelCard

from finetune_helpers import char_gpt_dir, run_cli
from genzoo.cli.runs import train_run
from genzoo.finetune.run import finetune_run
from genzoo.privacy import PrivacyConfig
from genzoo.safety.model_card import MARKER


@pytest.fixture(scope="module")
def dp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("card") / "dp"
    train_run("gaussian", "moons", steps=12, seed=0, out=out, progress=False,
              privacy=PrivacyConfig(target_epsilon=8.0, delta=1e-5))
    return out


def metrics_of(card) -> dict[str, float]:
    return {r.metric_type: r.metric_value for r in card.data.eval_results}


def test_a_dp_run_gets_a_card_huggingface_parses(dp_run):
    card = ModelCard.load(dp_run / "README.md")
    assert card.data.library_name == "genzoo" and card.data.license == "other"
    assert card.data.datasets == ["moons"]
    assert {"genzoo", "gaussian", "differential-privacy"} <= set(card.data.tags)
    eps = json.loads((dp_run / "privacy.json").read_text())["epsilon"]
    values = metrics_of(card)
    assert values["dp_epsilon"] == pytest.approx(eps)
    losses = [json.loads(line)["loss"] for line in (dp_run / "metrics.jsonl").read_text().splitlines()][-10:]
    assert values["train_loss"] == pytest.approx(sum(losses) / len(losses), abs=1e-6)
    assert "train_clipped" not in values and "train_nll" not in values  # DP bookkeeping and the loss's copy
    for section in ("## Training data and its curation", "## Evaluation", "## Intended use and limitations",
                    "## Privacy", "## Watermark and provenance"):
        assert section in card.text
    assert f"ε = {eps:.4g}" in card.text and "Trained without differential privacy" not in card.text
    assert "SHA-256" in card.text


def test_card_command_prints_refreshes_and_keeps_a_foreign_readme(dp_run, tmp_path, capsys):
    run = tmp_path / "r"
    shutil.copytree(dp_run, run)
    (run / "privacy.json").unlink()  # now a plain run with curated data and a held-out evaluation
    info = json.loads((run / "run.json").read_text())
    info.pop("privacy", None)
    info["curation"] = {"documents": 40, "exact_duplicates": 3, "near_duplicates": 2, "kept": 35, "removed": 5}
    (run / "run.json").write_text(json.dumps(info))
    (run / "eval.json").write_text(json.dumps({"nll": 1.25, "mmd": 0.031, "dp_epsilon": 9.0}))
    code, out, err = run_cli(["card", run], capsys)
    assert code == 0 and out.startswith("---\n") and "library_name: genzoo" in out, err
    assert "removed: 5" in out and "Trained without differential privacy" in out

    code, out, err = run_cli(["card", run, "--write", "--license", "mit"], capsys)
    assert code == 0, err
    card = ModelCard.load(run / "README.md")
    assert card.data.license == "mit" and "differential-privacy" not in card.data.tags
    assert metrics_of(card)["nll"] == 1.25 and metrics_of(card)["mmd"] == 0.031 and "dp_epsilon" not in metrics_of(card)
    code, _, _ = run_cli(["card", run, "--write"], capsys)  # a refresh keeps the chosen license
    assert code == 0 and ModelCard.load(run / "README.md").data.license == "mit"

    (run / "README.md").write_text("# my own notes\n")
    code, _, err = run_cli(["card", run, "--write"], capsys)
    assert code == 2 and "--force" in err and err.count("\n") == 1
    assert (run / "README.md").read_text() == "# my own notes\n"
    code, _, err = run_cli(["card", run, "--write", "--force"], capsys)
    assert code == 0 and MARKER in (run / "README.md").read_text()

    for args, msg in (([tmp_path / "missing"], "no such run directory"), ([tmp_path], "holds no saved model"),
                      ([run, "--license", "MIT License"], "license id")):
        code, _, err = run_cli(["card", *args], capsys)
        assert code == 2 and msg in err and err.startswith("error:") and "Traceback" not in err, err


def test_an_adapter_gets_a_card(tmp_path):
    base = char_gpt_dir(tmp_path, block_size=16)
    text = tmp_path / "t.txt"
    text.write_text("def f(x):\n    return x + 1\n\n" * 40)
    out = finetune_run(base, f"text:{text}", method="lora", overrides={"target_modules": "c_attn"}, steps=3,
                       batch_size=4, out=tmp_path / "lora", progress=False, sample_every=0)
    card = ModelCard.load(out / "README.md")
    assert card.data.library_name == "genzoo" and card.data.pipeline_tag == "text-generation"
    assert {"peft", "adapter-lora"} <= set(card.data.tags) and card.data.datasets is None  # a local file has no id
    assert metrics_of(card)["train_loss"] > 0
    assert "for the base model `base`" in card.text and "Base model weights" in card.text
    data_section = card.text.split("## Training data and its curation")[1].split("\n## ")[0]
    assert "your own text data (`t.txt`)" in data_section and str(tmp_path) not in data_section  # file name only
