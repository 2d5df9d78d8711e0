"""Tokenizers: a thin wrapper around HF ``tokenizers.Tokenizer`` saved as ``tokenizer.json``.

Two trainable vocabularies, both with the special token ``<|endoftext|>`` (id 0, used as EOS and pad):

- **char**: one token per distinct character of the training text (WordLevel model over a
  pre-tokenizer that isolates every character; decoding fuses them back). Characters outside the
  training text map to ``<|unk|>``.
- **bpe**: byte-level BPE (Sennrich et al. 2016; GPT-2's byte-to-unicode alphabet, Radford et al.
  2019): the 256 byte symbols plus merges learned from the text, so every string round-trips.

Any GPT-2-style ``tokenizer.json`` (e.g. from ``transformers``) loads with ``Tokenizer.from_file``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tokenizers import Regex, decoders, models, pre_tokenizers, trainers
from tokenizers import Tokenizer as HFTokenizer

from ..errors import DataError
from . import fast_encode

EOS = "<|endoftext|>"
UNK = "<|unk|>"
_PAD_NAMES = ("<|pad|>", "<pad>", "[PAD]")
_EOS_OTHERS = ("</s>",)  # T5 / sentencepiece tokenizers
_FAST_FROM = 20_000  # characters: longer texts use the exact fast encoders of fast_encode.py
_UNSET = object()


class Tokenizer:
    """``encode(text) -> list[int]``, ``decode(ids) -> str``, ``vocab_size``, ``eos_token_id``, ``pad_token_id``."""

    def __init__(self, hf: HFTokenizer):
        self.hf = hf
        eos = next((hf.token_to_id(t) for t in (EOS, *_EOS_OTHERS) if hf.token_to_id(t) is not None), None)
        if eos is None:
            raise DataError(f"tokenizer has no {EOS!r} token; add it as a special token")
        self.eos_token_id: int = eos
        pad = next((hf.token_to_id(t) for t in _PAD_NAMES if hf.token_to_id(t) is not None), None)
        self.pad_token_id: int = eos if pad is None else pad
        self._fast = _UNSET

    # ---------------------------------------------------------------- use
    @property
    def vocab_size(self) -> int:
        return self.hf.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> list[int]:
        if len(text) > _FAST_FROM:
            return self.encode_array(text).tolist()
        return self.hf.encode(text, add_special_tokens=False).ids

    def encode_tensor(self, text: str) -> torch.Tensor:
        """The ids of a (long) text as a 1-D LongTensor."""
        return torch.from_numpy(self.encode_array(text))

    def encode_array(self, text: str) -> np.ndarray:
        """Ids as an int64 array; long texts take an exact fast path (``fast_encode``) when it applies."""
        if len(text) > _FAST_FROM:
            if self._fast is _UNSET:
                self._fast = fast_encode.plan(self.hf)
            ids = None if self._fast is None else self._fast(text)
            if ids is not None:
                return ids
        return np.asarray(self.hf.encode(text, add_special_tokens=False).ids, dtype=np.int64)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.hf.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        return self.hf.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)

    def __len__(self) -> int:
        return self.vocab_size

    def with_special_tokens(self, tokens: list[str]) -> Tokenizer:
        """A copy with ``tokens`` added as special tokens (new ids after the vocabulary; e.g. FIM sentinels)."""
        hf = HFTokenizer.from_str(self.hf.to_str())
        hf.add_special_tokens(list(tokens))
        return Tokenizer(hf)

    def token_id(self, token: str) -> int:
        """The id of a (special) token; a one-line error when the vocabulary lacks it."""
        i = self.hf.token_to_id(token)
        if i is None:
            raise DataError(f"the tokenizer has no {token!r} token; train the model with it (e.g. --data-arg fim=0.5)")
        return i

    def __repr__(self) -> str:
        return f"Tokenizer({self.hf.model.__class__.__name__}, vocab_size={self.vocab_size})"

    # ---------------------------------------------------------------- files
    def save(self, directory) -> Path:
        """Write ``directory/tokenizer.json`` (HF format) and return its path."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        self.hf.save(str(path / "tokenizer.json"))
        return path / "tokenizer.json"

    @classmethod
    def from_file(cls, path) -> Tokenizer:
        """Load a ``tokenizer.json`` (or a directory holding one)."""
        path = Path(path)
        if path.is_dir():
            path = path / "tokenizer.json"
        if not path.is_file():
            raise DataError(f"tokenizer file {str(path)!r} not found; save one with Tokenizer.save(dir)")
        try:
            hf = HFTokenizer.from_file(str(path))
        except Exception as e:  # tokenizers raises a bare Exception on bad JSON
            raise DataError(f"tokenizer file {str(path)!r} is not a valid tokenizer.json ({e})") from None
        return cls(hf)

    # ---------------------------------------------------------------- training
    @classmethod
    def train_char(cls, text: str) -> Tokenizer:
        """Character-level vocabulary: ids 0/1 are ``<|endoftext|>``/``<|unk|>``, then sorted characters."""
        chars = sorted(set(text))
        vocab = {EOS: 0, UNK: 1, **{c: i + 2 for i, c in enumerate(chars)}}
        hf = HFTokenizer(models.WordLevel(vocab, unk_token=UNK))
        hf.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
        hf.decoder = decoders.Fuse()
        hf.add_special_tokens([EOS, UNK])
        return cls(hf)

    @classmethod
    def train_bpe(cls, text: str, vocab_size: int = 1024) -> Tokenizer:
        """Byte-level BPE with ``vocab_size`` tokens (256 bytes + ``<|endoftext|>`` + merges)."""
        if vocab_size < 257:
            raise DataError(f"BPE vocab_size={vocab_size} is too small; use at least 257 (256 bytes + EOS)")
        hf = HFTokenizer(models.BPE())
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        hf.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS], show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        hf.train_from_iterator(_chunks(text), trainer=trainer)
        return cls(hf)


def _chunks(text: str, size: int = 1 << 16):
    """Feed long text to the trainer in line-aligned pieces (the ByteLevel regex never spans them)."""
    start = 0
    while start < len(text):
        end = text.find("\n", start + size)
        end = len(text) if end == -1 else end + 1
        yield text[start:end]
        start = end


def train_tokenizer(kind: str, text: str, **kw) -> Tokenizer:
    """``kind`` is "char" or "bpe"."""
    if kind == "char":
        return Tokenizer.train_char(text)
    if kind == "bpe":
        return Tokenizer.train_bpe(text, **kw)
    raise DataError(f"unknown tokenizer {kind!r}; use tokenizer='char' or tokenizer='bpe'")


__all__ = ["Tokenizer", "train_tokenizer", "EOS"]
