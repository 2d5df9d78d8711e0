"""Fill-in-the-middle data (Bavarian et al. 2022) and infilling from the command line."""
import pytest
import torch
from cli_run import run_cli

import genzoo as gz
from genzoo.data.fim import MIDDLE, PREFIX, SENTINELS, SUFFIX, fim_blocks, fim_prompt
from genzoo.errors import ConfigError

IDS = {PREFIX: 100, SUFFIX: 101, MIDDLE: 102}
EOS = 0


def parse_psm(row: list[int]):
    """(prefix, suffix, middle) of a PSM row whose three sentinels survived the cut to the block length."""
    s, m = row.index(IDS[SUFFIX]), row.index(IDS[MIDDLE])
    middle = row[m + 1:]
    return row[1:s], row[s + 1:m], middle[: middle.index(EOS)] if EOS in middle else middle


def test_psm_rows_rearrange_the_block_and_keep_its_length():
    x = torch.arange(1, 41).view(2, 20).repeat(50, 1)  # ids 1..40, no sentinel or EOS among them
    out = fim_blocks(x, rate=1.0, spm_rate=0.0, ids=IDS, eos=EOS, generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    whole = 0
    for orig, row in zip(x.tolist(), out.tolist()):
        assert row[0] == IDS[PREFIX]
        kept = [t for t in row if t not in IDS.values() and t != EOS]
        assert len(set(kept)) == len(kept) and set(kept) <= set(orig)  # moved, never invented or repeated
        if IDS[MIDDLE] in row:  # the cut back to 20 tokens left the whole suffix
            whole += 1
            prefix, suffix, middle = parse_psm(row)
            a, b = len(prefix), len(orig) - len(suffix)
            assert orig[:a] == prefix and orig[b:] == suffix and orig[a:b][:len(middle)] == middle
    assert whole > 50


def test_spm_rows_and_rates():
    x = torch.arange(1, 21).repeat(400, 1)
    g = torch.Generator().manual_seed(1)
    out = fim_blocks(x, rate=0.5, spm_rate=1.0, ids=IDS, eos=EOS, generator=g)
    changed = (out != x).any(1)
    assert 0.4 < changed.float().mean() < 0.6  # the FIM rate
    for row in out[changed].tolist():
        assert row[:2] == [IDS[PREFIX], IDS[SUFFIX]]  # SPM: <pre><suf> suffix <mid> prefix middle
    again = fim_blocks(x, rate=0.5, spm_rate=1.0, ids=IDS, eos=EOS, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out, again)
    assert torch.equal(fim_blocks(x, 0.0, 0.5, IDS, EOS, torch.Generator()), x)


def test_pystdlib_with_fim_adds_sentinels_after_the_vocabulary():
    plain = gz.load_dataset("pystdlib", split="train", block_size=64)
    fim = gz.load_dataset("pystdlib", split="train", block_size=64, fim=0.5)
    assert fim.tokenizer.vocab_size == plain.tokenizer.vocab_size + 3
    assert [fim.tokenizer.token_id(t) for t in SENTINELS] == list(range(plain.tokenizer.vocab_size, fim.tokenizer.vocab_size))
    assert fim.tokenizer.encode("def f(x):") == plain.tokenizer.encode("def f(x):")
    changed = (fim.x != plain.x).any(1).float().mean()
    assert 0.45 < changed < 0.55
    test = gz.load_dataset("pystdlib", split="test", block_size=64, fim=0.5)
    assert torch.equal(test.x, gz.load_dataset("pystdlib", split="test", block_size=64).x)  # held-out text stays plain
    ids = fim_prompt(fim.tokenizer, "a = ", "\nb = a")
    assert fim.tokenizer.decode(ids) == "<|fim_prefix|>a = <|fim_suffix|>\nb = a<|fim_middle|>"
    with pytest.raises(ConfigError, match="fraction of blocks in"):
        gz.load_dataset("pystdlib", split="train", fim="lots")


def test_generate_fills_the_middle_from_the_cli(tmp_path, capsys):
    run = tmp_path / "fim"
    code, _, err = run_cli(["train", "gpt", "--data", "pystdlib", "--data-arg", "fim=0.5", "--data-arg", "block_size=48",
                            "--steps", "2", "--set", "n_layer=1", "--set", "n_embd=16", "--set", "n_head=2",
                            "--out", run, "--no-progress"], capsys)
    assert code == 0, err
    code, out, err = run_cli(["generate", run, "--prefix", "def f(x):\n    ", "--suffix", "\n    return y",
                              "--max-new-tokens", "8", "--seed", "3"], capsys)
    assert code == 0, err
    assert out.startswith("def f(x):\n    ") and out.rstrip("\n").endswith("\n    return y")
    assert out == run_cli(["generate", run, "--prefix", "def f(x):\n    ", "--suffix", "\n    return y",
                           "--max-new-tokens", "8", "--seed", "3"], capsys)[1]  # same seed, same middle
    code, _, err = run_cli(["generate", run, "x = 1", "--prefix", "a"], capsys)
    assert code == 2 and "not both" in err
    plain = tmp_path / "plain"
    run_cli(["train", "gpt", "--data", "pystdlib", "--data-arg", "block_size=48", "--steps", "1", "--set", "n_layer=1",
             "--set", "n_embd=16", "--set", "n_head=2", "--out", plain, "--no-progress"], capsys)
    code, _, err = run_cli(["generate", plain, "--prefix", "a", "--suffix", "b"], capsys)
    assert code == 2 and "no '<|fim_prefix|>' token" in err and err.count("\n") == 1
