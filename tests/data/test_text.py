"""Text sets: pystdlib and text:PATH (splits, chunks, tokenizers) and the exact fast encoders."""
import numpy as np
import pytest
import torch

import genzoo as gz
from genzoo.data import text as T
from genzoo.data.tokenizers import EOS, Tokenizer
from genzoo.errors import DataError


def test_pystdlib_files_exclude_tests_and_are_sorted():
    files = T.stdlib_files()
    assert files == sorted(files) and "__future__.py" in files and "os.py" in files
    for f in files:
        parts = f.split("/")
        assert not set(parts[:-1]) & {"test", "tests", "idle_test", "site-packages"}, f
    text = T.pystdlib_text()
    assert 3_000_000 <= len(text) < 3_000_000 + 1000 and text.endswith("\n")
    assert text.startswith(open(T.sysconfig.get_paths()["stdlib"] + "/__future__.py").read()[:200])


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_pystdlib_layout(kind):
    train = gz.load_dataset("pystdlib", tokenizer=kind)
    test = gz.load_dataset("pystdlib", split="test", tokenizer=kind, block_size=64)
    splits = T._splits(T._corpus_key("pystdlib"))
    assert splits["train"] + splits["test"] == T.pystdlib_text() and splits["train"].endswith("\n")
    assert len(splits["train"]) == pytest.approx(0.9 * len(T.pystdlib_text()), rel=1e-3)
    assert train.kind == "text" and train.shape == (128,) and test.shape == (64,)
    assert train.x.dtype == torch.long and train.tokenizer is test.tokenizer  # trained once, on train
    tokens = train.info["tokens"]
    assert len(train) == len(tokens) // 128 and torch.equal(train.x.flatten(), tokens[: len(train) * 128])
    assert train.vocab_size == train.tokenizer.vocab_size and int(train.x.max()) < train.vocab_size
    assert train.tokenizer.decode(tokens) == splits["train"]
    if kind == "bpe":
        assert train.vocab_size == 1024
        assert test.tokenizer.decode(test.info["tokens"]) == splits["test"]  # bytes: always exact
        assert len(tokens) < 0.4 * len(splits["train"])
    else:
        assert train.vocab_size == len(set(splits["train"])) + 2
        assert torch.equal(gz.load_dataset("pystdlib").x, train.x)


def test_pystdlib_bpe_is_the_deterministic_hf_training():
    tok = gz.load_dataset("pystdlib", tokenizer="bpe", block_size=8).tokenizer
    again = Tokenizer.train_bpe(T._splits(T._corpus_key("pystdlib"))["train"], vocab_size=1024)
    assert again.hf.to_str() == tok.hf.to_str()


def test_fast_encoders_equal_hf():
    sample = T.pystdlib_text()[:150_000] + "完全に新しい ∮ 𝔘 e\u0301 Ⅻ ½ ３４ x²\u00a0\u2003 \t\r\n it's 'll 12ab\n\n \n"
    for tok in (Tokenizer.train_char(sample[:100_000]), Tokenizer.train_bpe(sample, vocab_size=400)):
        hf = tok.hf.encode(sample, add_special_tokens=False).ids
        assert tok.encode(sample) == hf and tok.encode_array(sample).tolist() == hf
        assert tok._fast is not None  # the fast path was taken
        with_eos = sample + EOS + "x"  # a special token's literal: HF matches it, the fast path steps aside
        assert tok.encode(with_eos) == tok.hf.encode(with_eos, add_special_tokens=False).ids
        assert tok.encode(with_eos)[-2] == tok.eos_token_id


def test_text_file(tmp_path):
    body = "".join(f"line {i}: the quick brown fox jumps over the lazy dog é\n" for i in range(300))
    path = tmp_path / "corpus.txt"
    path.write_text(body, encoding="utf-8")
    train = gz.load_dataset(f"text:{path}", block_size=32)
    test = gz.load_dataset(f"text:{path}", split="test", block_size=32)
    assert train.name == f"text:{path}" and train.shape == (32,) and len(test) > 0
    assert train.tokenizer.decode(train.info["tokens"]) + test.tokenizer.decode(test.info["tokens"]) == body
    bpe = gz.load_dataset(f"text:{path}", tokenizer="bpe", vocab_size=300, block_size=16)
    assert bpe.vocab_size == 300 and bpe.tokenizer.decode(bpe.info["tokens"]) == T._splits(bpe_key(path))["train"]
    # a given tokenizer is used as is
    custom = gz.load_dataset(f"text:{path}", tokenizer=bpe.tokenizer, block_size=16)
    assert custom.tokenizer is bpe.tokenizer and torch.equal(custom.x, bpe.x)
    # an edited file is read again
    path.write_text(body.upper() + "EXTRA\n" * 50, encoding="utf-8")
    edited = gz.load_dataset(f"text:{path}", block_size=32)
    assert edited.tokenizer.decode(edited.x[0]).startswith("LINE 0: THE QUICK")


def bpe_key(path):
    st = path.stat()
    return T._corpus_key(("file", str(path.resolve()), st.st_mtime_ns, st.st_size))


def test_text_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        gz.load_dataset(f"text:{tmp_path / 'missing.txt'}")
    with pytest.raises(DataError, match="is not a file"):
        gz.load_dataset(f"text:{tmp_path}")
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(DataError, match="is empty"):
        gz.load_dataset(f"text:{tmp_path / 'empty.txt'}")
    (tmp_path / "latin.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1") * 10)
    with pytest.raises(DataError, match="not UTF-8 .*offset 3"):
        gz.load_dataset(f"text:{tmp_path / 'latin.txt'}")
    (tmp_path / "short.txt").write_text("hello world\n" * 20)
    with pytest.raises(DataError, match="fewer than block_size=128"):
        gz.load_dataset(f"text:{tmp_path / 'short.txt'}", split="test")
    with pytest.raises(DataError, match="tokenizer='char', 'bpe'"):
        gz.load_dataset(f"text:{tmp_path / 'short.txt'}", tokenizer="words", block_size=4)
    with pytest.raises(DataError, match="block_size must be a positive integer"):
        gz.load_dataset("pystdlib", block_size=0)
    with pytest.raises(DataError, match="valid splits"):
        gz.load_dataset("pystdlib", split="valid")
