"""Molecule datasets: the regex tokenizer, one molecule a padded row, SELFIES, user files and bad input."""
import warnings

import pytest
import torch
from cli_run import run_cli
from mol_helpers import MOLS, write

from genzoo.data import load_dataset
from genzoo.data.molecules import SMALL_SIZES, moses_smiles
from genzoo.data.smiles import decode_rows, molecule_format, split_tokens
from genzoo.errors import DataError


def test_atom_level_regex_splits_atoms_bonds_and_ring_closures():
    assert split_tokens("CC(=O)Nc1ccc(Br)cc1[nH+]Cl%10") == [
        "C", "C", "(", "=", "O", ")", "N", "c", "1", "c", "c", "c", "(", "Br", ")", "c", "c", "1", "[nH+]", "Cl", "%10"]


def test_moses_small_test_split_is_fixed_and_decodes_back():
    ds = load_dataset("moses-small", split="test")
    assert len(ds) == SMALL_SIZES["test"] == len(ds.smiles) and ds.kind == "text" and ds.shape == (64,)
    assert ds.smiles == list(moses_smiles("test"))[:: len(moses_smiles("test")) // 2000][:2000]
    eos, pad = ds.tokenizer.eos_token_id, ds.tokenizer.pad_token_id
    assert (ds.x[:, 0] == eos).all() and pad != eos and ds.info["pad_token_id"] == pad
    assert decode_rows(ds.tokenizer, ds.x) == ds.smiles
    length = (ds.x != pad).sum(1)  # BOS + tokens + EOS, then only padding
    assert all(ds.x[i, length[i] - 1] == eos and (ds.x[i, length[i]:] == pad).all() for i in range(50))


def test_user_file_counts_and_skips_invalid_smiles(tmp_path):
    path = write(tmp_path, ["SMILES"] + MOLS[:12] + ["C1CC", "not_a_smiles"] + MOLS[12:] + [""])
    with pytest.warns(UserWarning, match="skipped 2 of 26 SMILES"):
        train = load_dataset(f"smiles:{path}")
    test = load_dataset(f"smiles:{path}", split="test", tokenizer=train.tokenizer)
    assert train.smiles + test.smiles == MOLS and train.info["curation"]["invalid_smiles"] == 2
    assert molecule_format(train.tokenizer) == "smiles"


def test_selfies_rows_decode_to_the_same_molecules(tmp_path):
    from rdkit import Chem

    ds = load_dataset(f"smiles:{write(tmp_path, MOLS)}", selfies=True)
    assert molecule_format(ds.tokenizer) == "selfies"
    assert all(ds.tokenizer.decode([int(t)]).startswith("[") for t in ds.x[0, 1:3])
    canon = [Chem.CanonSmiles(s) for s in decode_rows(ds.tokenizer, ds.x)]
    assert canon == [Chem.CanonSmiles(s) for s in ds.smiles]


def test_molecules_longer_than_the_block_are_skipped_and_counted(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load_dataset(f"smiles:{write(tmp_path, MOLS)}", block_size=14)
    assert ds.info["curation"]["too_long"] > 0 and all(len(split_tokens(s)) <= 12 for s in ds.smiles)
    assert ds.x.dtype == torch.int32 and ds.shape == (14,)


def test_bad_input_is_one_line_error(tmp_path, capsys):
    empty = write(tmp_path, ["", "  "], "empty.smi")
    with pytest.raises(DataError, match="has no SMILES"):
        load_dataset(f"smiles:{empty}")
    bad = write(tmp_path, ["C1CC", "xyz"], "bad.smi")
    code, _, err = run_cli(["train", "gpt", "--data", f"smiles:{bad}", "--steps", "1", "--out", tmp_path / "r"], capsys)
    assert code == 2 and err.startswith("error: ") and "0 valid SMILES of 2" in err and "Traceback" not in err
    with pytest.raises(DataError, match="no split 'valid'"):
        load_dataset("moses-small", split="valid")


def test_selfies_are_encoded_once_and_then_read_from_the_disk_cache(tmp_path, monkeypatch):
    from genzoo.data import molecules

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(molecules, "SELFIES_CACHE_MIN", 0)
    path = write(tmp_path, MOLS * 2)
    calls = []
    real = molecules.smiles_to_selfies
    monkeypatch.setattr(molecules, "smiles_to_selfies", lambda s: calls.append(len(s)) or real(s))
    molecules._selfies_of.cache_clear()
    molecules._vocab.cache_clear()
    first = load_dataset(f"smiles:{path}", selfies=True, block_size=48)
    assert calls == [43]  # the train split once: the vocabulary and the rows share it
    assert len(list((tmp_path / "cache" / "genzoo").glob("selfies-*.json"))) == 1
    molecules._selfies_of.cache_clear()
    molecules._vocab.cache_clear()
    monkeypatch.setattr(molecules, "smiles_to_selfies", lambda s: pytest.fail("encoded again"))
    again = load_dataset(f"smiles:{path}", selfies=True, block_size=48)
    assert torch.equal(first.x, again.x) and first.smiles == again.smiles
    assert all(decode_rows(first.tokenizer, first.x[:5].long()))  # rows decode back to molecules
