"""GPT and the text VAE on molecule rows: padding is not learned, training runs, samples decode to SMILES,
`genzoo sample --out FILE.smi` and `genzoo eval --metrics moses` work end to end."""
import warnings

import torch
from cli_run import run_cli
from mol_helpers import MOLS, write

import genzoo as gz
from genzoo.data import load_dataset
from genzoo.data.smiles import sample_smiles


def _data(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_dataset(f"smiles:{write(tmp_path, MOLS * 2)}", block_size=32)


def test_gpt_leaves_padding_out_of_loss_and_log_prob(tmp_path):
    data = _data(tmp_path)
    torch.manual_seed(0)
    model = gz.build("gpt", data, n_layer=1, n_head=2, n_embd=16)
    pad = data.tokenizer.pad_token_id
    assert model.config.pad_token_id == pad
    x = data.x[:4].long()
    lp = model.token_log_probs(x)
    assert (lp[x == pad] == 0).all() and (lp[x != pad] < 0).all()
    real = (x != pad).sum()
    assert torch.allclose(model.loss(x)["loss"], -lp.sum() / real)
    plain = gz.build("gpt", data, n_layer=1, n_head=2, n_embd=16, pad_token_id=None)
    plain.load_state_dict(model.state_dict())  # without the option: every position counts, as before
    assert torch.allclose(plain.loss(x)["loss"], -plain.token_log_probs(x).mean())


def test_gpt_trains_and_samples_smiles_file(tmp_path, capsys):
    path = write(tmp_path, MOLS * 2)
    run = tmp_path / "gpt"
    code, _, err = run_cli(["train", "gpt", "--data", f"smiles:{path}", "--steps", "20", "--batch-size", "16",
                            "--set", "n_layer=1", "--set", "n_embd=32", "--set", "n_head=2", "--out", run,
                            "--no-progress"], capsys)
    assert code == 0, err
    for name in ("a.smi", "b.smi"):
        code, _, err = run_cli(["sample", run, "-n", "12", "--seed", "3", "--out", tmp_path / name], capsys)
        assert code == 0, err
    lines = (tmp_path / "a.smi").read_text().splitlines()
    assert len(lines) == 12 and (tmp_path / "b.smi").read_text() == (tmp_path / "a.smi").read_text()
    assert not any("<|" in s for s in lines)  # no special token survives decoding (pad, marker)
    for name in ("cold.smi", "cold2.smi"):  # --temperature: a sharper distribution, still seeded
        code, _, err = run_cli(["sample", run, "-n", "12", "--seed", "3", "--temperature", "0.3", "--out", tmp_path / name], capsys)
        assert code == 0, err
    cold = (tmp_path / "cold.smi").read_text()
    assert cold == (tmp_path / "cold2.smi").read_text() and cold.splitlines() != lines
    code, _, err = run_cli(["sample", run, "-n", "2", "--temperature", "0", "--out", tmp_path / "x.smi"], capsys)
    assert code == 2 and "--temperature must be > 0" in err and not (tmp_path / "x.smi").exists()
    code, out, err = run_cli(["eval", run, "--data", f"smiles:{path}", "--metrics", "moses", "--num-samples", "20"], capsys)
    assert code == 0, err
    assert "valid" in out and "Novelty" in out and "FCD/Test" in out


def test_text_vae_trains_on_molecules_and_samples_strings(tmp_path):
    data = _data(tmp_path)
    torch.manual_seed(0)
    model = gz.build("vae", data, latent_dim=4, hidden=(32,), embed_dim=16)
    assert model.config.backbone == "rnn" and model.config.likelihood == "categorical"
    gz.Trainer(model, data, steps=5, batch_size=8, progress=False).fit()
    first = sample_smiles(model, data.tokenizer, 6, torch.Generator().manual_seed(0), batch_size=4)
    again = sample_smiles(model, data.tokenizer, 6, torch.Generator().manual_seed(0), batch_size=4)
    assert len(first) == 6 and first == again and all(isinstance(s, str) for s in first)


def test_property_condition_token_and_conditional_sampling(tmp_path, capsys):
    from genzoo.data.mol_condition import condition_ids, values

    path = write(tmp_path, MOLS * 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_dataset(f"smiles:{path}", block_size=32, condition="qed")
    ids = condition_ids(data.tokenizer)
    assert set(ids) == {"qed=low", "qed=mid", "qed=high"} and set(data.x[:, 1].tolist()) <= set(ids.values())
    qed = values("qed", data.smiles)
    high = data.x[:, 1] == ids["qed=high"]
    low = data.x[:, 1] == ids["qed=low"]
    assert high.any() and low.any() and qed[high.numpy()].min() >= qed[low.numpy()].max()
    assert decode_rows_back(data) == data.smiles  # the bin token is dropped when decoding
    torch.manual_seed(0)
    model = gz.build("gpt", data, n_layer=1, n_head=2, n_embd=16)
    gz.Trainer(model, data, steps=3, batch_size=8, progress=False).fit()
    a = sample_smiles(model, data.tokenizer, 5, torch.Generator().manual_seed(1), condition="qed=high")
    assert a == sample_smiles(model, data.tokenizer, 5, torch.Generator().manual_seed(1), condition="qed=high")
    model.save_pretrained(tmp_path / "cond")
    code, _, err = run_cli(["sample", tmp_path / "cond", "-n", "3", "--condition", "qed=extreme", "--out",
                            tmp_path / "x.smi"], capsys)
    assert code == 2 and "'qed=extreme' is not a condition this model was trained with; use one of qed=low" in err
    plain = _data(tmp_path)
    model = gz.build("gpt", plain, n_layer=1, n_head=2, n_embd=16)
    model.save_pretrained(tmp_path / "plain")
    code, _, err = run_cli(["sample", tmp_path / "plain", "-n", "3", "--condition", "qed=high", "--out",
                            tmp_path / "y.smi"], capsys)
    assert code == 2 and "trained without a condition" in err


def decode_rows_back(data):
    from genzoo.data.smiles import decode_rows

    return decode_rows(data.tokenizer, data.x)
