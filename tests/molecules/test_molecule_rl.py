"""RL toward a molecular property: the ``qed`` reward is RDKit's QED (0 for what is not a molecule), a
molecule GPT's rollouts are whole molecules from BOS with their SMILES as a column, and GRPO on a GPT
that draws a low- and a high-QED molecule half and half moves it to the high-QED one."""
import json

import pytest
import torch
from cli_run import run_cli
from mol_helpers import write
from rdkit import Chem
from rdkit.Chem.QED import qed

import genzoo as gz
from genzoo.data import load_dataset
from genzoo.data.smiles import decode_rows
from genzoo.finetune.prefs_make import select_prompts
from genzoo.finetune.rewards import get_reward
from genzoo.finetune.rollout import sample_rollout

LOW, HIGH = "CCCCCCCCCCCCCCCC", "O=C(Nc1ccccc1)c1cccnc1"  # QED 0.31 and 0.80


def test_qed_reward_is_rdkit_qed_and_zero_for_what_is_not_a_molecule():
    reward = get_reward("qed")
    assert reward(["", ""], [HIGH, LOW]) == pytest.approx([qed(Chem.MolFromSmiles(HIGH)), qed(Chem.MolFromSmiles(LOW))])
    assert reward([""] * 3, ["CC(", "", "C1CC"]) == [0.0, 0.0, 0.0]
    assert reward([""], ["[C][C]"], smiles=[HIGH]) == pytest.approx([0.8042302799])  # the decoded column wins


@pytest.fixture(scope="module")
def two_molecule_gpt(tmp_path_factory):
    """A 1-layer GPT that draws LOW and HIGH about half and half (the first token decides)."""
    root = tmp_path_factory.mktemp("molrl")
    path = write(root, [LOW, HIGH] * 16)
    from genzoo.cli.main import main

    main(["train", "gpt", "--data", f"smiles:{path}", "--steps", "300", "--batch-size", "32", "--lr", "1e-2",
          "--set", "n_layer=1", "--set", "n_embd=32", "--set", "n_head=2", "--data-arg", "block_size=24",
          "--ema-decay", "0", "--out", str(root / "base"), "--no-progress"])  # the CLI in-process
    return root / "base"


def _share_high(model, n=200):
    """Shares of HIGH and of the two molecules among ``n`` molecules sampled from BOS (as RL samples)."""
    bos = torch.full((n, 1), model.tokenizer.eos_token_id)
    rows = model.generate(bos, do_sample=True, max_new_tokens=23, generator=torch.Generator().manual_seed(1),
                          eos_token_id=model.tokenizer.eos_token_id, pad_token_id=model.tokenizer.pad_token_id)
    smiles = decode_rows(model.tokenizer, rows)
    return sum(s == HIGH for s in smiles) / n, sum(s in (LOW, HIGH) for s in smiles) / n


def test_rollouts_are_whole_molecules_with_their_smiles(two_molecule_gpt):
    model = gz.load(two_molecule_gpt)
    pool = select_prompts(model, "qed", 3, 23, torch.Generator().manual_seed(0))
    assert pool == [(("", None), [model.tokenizer.eos_token_id])] * 3
    rollout = sample_rollout(model, pool, 2, torch.Generator().manual_seed(0), max_new_tokens=23)
    assert rollout.columns["smiles"] == decode_rows(model.tokenizer, rollout.ids.tolist())
    for text, smiles in zip(rollout.completions, rollout.columns["smiles"]):
        assert smiles in (text, "")  # SMILES tokens fuse back; a row with a special token inside is no molecule


def test_grpo_with_the_qed_reward_moves_the_model_to_the_high_qed_molecule(two_molecule_gpt, tmp_path, capsys):
    before, valid = _share_high(gz.load(two_molecule_gpt))
    assert 0.25 < before < 0.75 and valid > 0.95
    out = tmp_path / "rl"
    code, _, err = run_cli(["finetune", two_molecule_gpt, "--method", "grpo", "--reward", "qed", "--steps", "15",
                            "--batch-size", "4", "--lr", "1e-2", "--set", "num_generations=4", "--out", out,
                            "--no-progress"], capsys)
    assert code == 0, err
    info = json.loads((out / "run.json").read_text())
    assert info["max_new_tokens"] == 23 and info["reward_failures"] == 0  # whole rows: block_size - 1
    after, _ = _share_high(gz.load(out))
    assert after > before + 0.2 and after > 0.8, (before, after)


def test_selfies_flag_takes_the_strings_data_arg_passes(tmp_path):
    path = write(tmp_path, [LOW, HIGH])
    assert load_dataset(f"smiles:{path}", selfies="false").info["options"]["selfies"] is False
    assert load_dataset(f"smiles:{path}", selfies="true").info["options"]["selfies"] is True
    with pytest.raises(gz.errors.DataError, match="selfies='maybe' must be true or false"):
        load_dataset(f"smiles:{path}", selfies="maybe")


def test_the_qed_reward_on_a_model_that_does_not_make_molecules_is_one_line(tmp_path, capsys):
    from finetune_helpers import char_gpt_dir

    char_gpt_dir(tmp_path, block_size=32)
    code, _, err = run_cli(["finetune", tmp_path / "base", "--method", "grpo", "--reward", "qed", "--steps", "1",
                            "--out", tmp_path / "rl", "--no-progress"], capsys)
    assert code == 2 and "--reward qed scores molecules" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "rl").exists()
