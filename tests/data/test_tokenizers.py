"""Tokenizers: exact round trips, determinism, tokenizer.json files readable by transformers."""
import json

import pytest

from genzoo.data.tokenizers import EOS, Tokenizer, train_tokenizer
from genzoo.errors import DataError

TEXT = ("def f(x):\n\treturn x + 1  # héllo ✓\r\n\n    class A:\n        pass  🙂\n" * 20
        + "import os, sys\nprint('done')\n")


@pytest.fixture(scope="module")
def char():
    return Tokenizer.train_char(TEXT)


@pytest.fixture(scope="module")
def bpe():
    return Tokenizer.train_bpe(TEXT, vocab_size=300)


def test_char_vocab_is_sorted_characters(char):
    chars = sorted(set(TEXT))
    assert char.vocab_size == len(chars) + 2
    assert char.eos_token_id == 0 and char.pad_token_id == 0
    assert char.encode("".join(chars)) == list(range(2, len(chars) + 2))


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_round_trip(kind, char, bpe):
    tok = {"char": char, "bpe": bpe}[kind]
    ids = tok.encode(TEXT)
    assert all(isinstance(i, int) for i in ids)
    assert tok.decode(ids) == TEXT
    for piece in ["", " ", "\n\n", "x + 1", "  🙂 é\t"]:
        assert tok.decode(tok.encode(piece)) == piece


def test_char_unknown_character_maps_to_unk(char):
    ids = char.encode("xQ")
    assert ids[1] == 1 and char.decode(ids) == "x<|unk|>"


def test_bpe_is_byte_level_and_compresses(bpe):
    assert bpe.vocab_size == 300 and bpe.eos_token_id == 0
    assert len(bpe.encode(TEXT)) < 0.5 * len(TEXT.encode())
    unseen = "完全に新しい文字列 ∮ 𝔘"  # never seen in training: still round-trips through bytes
    assert bpe.decode(bpe.encode(unseen)) == unseen


def test_bpe_training_is_deterministic(bpe):
    again = Tokenizer.train_bpe(TEXT, vocab_size=300)
    assert again.hf.to_str() == bpe.hf.to_str()


def test_eos_decodes_as_special_token(bpe, char):
    for tok in (bpe, char):
        assert tok.decode(tok.encode("as") + [tok.eos_token_id]) == "as" + EOS
        assert tok.decode(tok.encode("as") + [tok.eos_token_id], skip_special_tokens=True) == "as"


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_save_load_and_transformers_parity(kind, char, bpe, tmp_path):
    tok = {"char": char, "bpe": bpe}[kind]
    path = tok.save(tmp_path)
    assert path.name == "tokenizer.json" and json.loads(path.read_text())["model"]
    for src in (tmp_path, path):
        again = Tokenizer.from_file(src)
        assert again.encode(TEXT) == tok.encode(TEXT) and again.vocab_size == tok.vocab_size
    transformers = pytest.importorskip("transformers")
    hf = transformers.PreTrainedTokenizerFast(tokenizer_file=str(path))
    assert hf.encode(TEXT, add_special_tokens=False) == tok.encode(TEXT)
    assert hf.decode(tok.encode(TEXT)) == TEXT


def test_gpt2_style_file(tmp_path):
    """A GPT-2 layout: byte alphabet first, merges, then <|endoftext|> as the last id."""
    from tokenizers import Tokenizer as HF, decoders, models, pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(alphabet)}
    vocab["Ġt"], vocab["Ġth"] = 256, 257
    hf = HF(models.BPE(vocab, [("Ġ", "t"), ("Ġt", "h")]))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    hf.add_special_tokens([EOS])
    hf.save(str(tmp_path / "tokenizer.json"))
    tok = Tokenizer.from_file(tmp_path)
    assert tok.eos_token_id == 258 == tok.pad_token_id and tok.vocab_size == 259
    assert tok.encode(" the")[0] == 257 and tok.decode(tok.encode(" the cat")) == " the cat"


def test_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        Tokenizer.from_file(tmp_path / "nope")
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(DataError, match="not a valid tokenizer.json"):
        Tokenizer.from_file(tmp_path)
    with pytest.raises(DataError, match="too small"):
        Tokenizer.train_bpe("abc", vocab_size=100)
    with pytest.raises(DataError, match="tokenizer='char'"):
        train_tokenizer("wordpiece", "abc")
