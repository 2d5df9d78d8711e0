"""Text sets: ``pystdlib`` (Python's own standard library source) and ``text:PATH`` (a user's file).

The text is split by position: the first 90% (cut at a line end) is ``train``, the rest ``test``.
A tokenizer is trained on the train text only (``tokenizer="char"``: one id per character;
``"bpe"``: byte-level BPE with ``vocab_size`` tokens, default 1024; or pass a ``Tokenizer``) and
encodes both splits. ``x`` holds the non-overlapping chunks (N, block_size) of the token stream
(a remainder shorter than a block is dropped); ``info["tokens"]`` is the whole 1-D stream and
``info["options"]`` the keyword options to load the other split the same way.

``pystdlib``: every ``*.py`` under ``sysconfig.get_paths()["stdlib"]`` except the directories
``test``, ``tests``, ``idle_test``, ``site-packages``, ``__pycache__``, sorted by relative path,
concatenated and cut at the first line end after 3,000,000 characters. It depends on the running
Python version (``info["python"]``); it needs no download.

Curation and canaries (docs/privacy.md), in this order: ``scrub="module:function"`` (or a callable
text -> text) rewrites every document (blank-line separated), ``dedup="exact"|"minhash"`` drops
duplicate documents before the split (``genzoo.data.curate``; counts in ``info["curation"]``);
``canaries="1,10,100"`` inserts one random secret line per count, that many times, into the train
split only (``genzoo.privacy.canaries``; ``canary_digits=6``, ``canary_seed=0``; the canaries,
with a never-inserted control, in ``info["canaries"]``). The tokenizer is then trained on the train
text before insertion plus one line ``"my secret number is 0123456789"``, so it never learns a secret.
"""
from __future__ import annotations

import functools
import os
import platform
import sysconfig
from pathlib import Path

import torch

from ..errors import DataError
from ..privacy.canaries import PREFIX, insert_canaries, make_canaries, parse_counts
from ..registry import register_dataset
from .base import GenDataset
from .common import check_split, generator
from .curate import curate_text
from .fim import SENTINELS, check_rates, fim_blocks
from .tokenizers import Tokenizer, train_tokenizer

PYSTDLIB_CHARS = 3_000_000
TRAIN_FRACTION = 0.9
EXCLUDED_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}


def stdlib_files(root: str | None = None) -> list[str]:
    """Relative paths of the standard-library ``*.py`` files that make up ``pystdlib``, sorted."""
    root = root or sysconfig.get_paths()["stdlib"]
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in EXCLUDED_DIRS]
        rel = os.path.relpath(folder, root)
        found += [Path(rel, f).as_posix().removeprefix("./") for f in files if f.endswith(".py")]
    return sorted(found)


def _cut_at_line(text: str, at: int) -> int:
    """The position just after the first newline at or after ``at`` (or the end)."""
    end = text.find("\n", at)
    return len(text) if end == -1 else end + 1


@functools.lru_cache(maxsize=1)
def pystdlib_text() -> str:
    root = sysconfig.get_paths()["stdlib"]
    parts, total = [], 0
    for rel in stdlib_files(root):
        parts.append(Path(root, rel).read_bytes().decode("utf-8", errors="replace"))
        total += len(parts[-1])
        if total >= PYSTDLIB_CHARS:
            break
    text = "".join(parts)
    return text[: _cut_at_line(text, PYSTDLIB_CHARS)]


def read_text_file(path: str) -> str:
    """A user's UTF-8 text file, with one-line errors for the usual mistakes."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"text file {path!r} not found; pass text:PATH with an existing UTF-8 file")
    if not p.is_file():
        raise DataError(f"text:{path} is not a file; pass text:PATH with a UTF-8 text file")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"text file {path!r} is not UTF-8 (bad byte at offset {e.start}); "
                        "convert it, e.g. iconv -f latin1 -t utf-8") from None
    if not text.strip():
        raise DataError(f"text file {path!r} is empty; it needs some text to train on")
    return text


# ----------------------------------------------------------------------------- cached pipeline
# A corpus is named by a hashable key (source, dedup, scrub, canary counts, canary_digits, canary_seed);
# the source is "pystdlib", or ("file", absolute path, mtime_ns, size) so an edited file is read again.
def _corpus_key(source, dedup=None, scrub=None, canaries=None, canary_digits: int = 6, canary_seed: int = 0) -> tuple:
    counts = parse_counts(canaries) if canaries is not None else None
    if counts:
        make_canaries(counts, canary_digits, canary_seed)  # bad options fail here, in one line
    return (source, dedup, scrub, counts, canary_digits, canary_seed)


@functools.lru_cache(maxsize=8)
def _splits(key) -> dict:
    source, dedup, scrub, counts, digits, seed = key
    text = pystdlib_text() if source == "pystdlib" else read_text_file(source[1])
    curation = None
    if dedup is not None or scrub is not None:
        text, curation = curate_text(text, dedup_method=dedup, scrub=scrub)
    cut = _cut_at_line(text, int(TRAIN_FRACTION * len(text)))
    train, canaries = text[:cut], make_canaries(counts, digits, seed) if counts else None
    # the tokenizer never sees the secrets (a BPE would learn merges of their digits): it reads the
    # text before insertion plus one line with the canary prefix and every digit
    vocab_text = train + (f"{PREFIX}0123456789\n" if canaries else "")
    if canaries:
        train = insert_canaries(train, canaries, seed)
    return {"train": train, "test": text[cut:], "curation": curation, "canaries": canaries, "vocab_text": vocab_text}


@functools.lru_cache(maxsize=16)
def _tokenizer(key, kind: str, vocab_size: int, fim: bool = False) -> Tokenizer:
    if fim:  # the FIM sentinels get ids after the vocabulary: plain text encodes to the same ids
        return _tokenizer(key, kind, vocab_size).with_special_tokens(SENTINELS)
    kw = {"vocab_size": vocab_size} if kind == "bpe" else {}
    return train_tokenizer(kind, _splits(key)["vocab_text"], **kw)


@functools.lru_cache(maxsize=32)
def _tokens(key, kind: str, vocab_size: int, split: str) -> torch.Tensor:
    return _tokenizer(key, kind, vocab_size).encode_tensor(_splits(key)[split])


def text_dataset(name: str, key, split: str, tokenizer="char", block_size: int = 128,
                 vocab_size: int = 1024, fim: float = 0.0, fim_spm: float = 0.5) -> GenDataset:
    check_split(name, split)
    fim, fim_spm = check_rates(fim, fim_spm)
    if not isinstance(block_size, int) or block_size < 1:
        raise DataError(f"block_size must be a positive integer, got {block_size!r}")
    if isinstance(tokenizer, Tokenizer):
        tok, tokens = tokenizer, tokenizer.encode_tensor(_splits(key)[split])
    elif tokenizer in ("char", "bpe"):
        tok, tokens = _tokenizer(key, tokenizer, vocab_size, fim > 0), _tokens(key, tokenizer, vocab_size, split)
    else:
        raise DataError(f"unknown tokenizer {tokenizer!r}; use tokenizer='char', 'bpe' or a genzoo Tokenizer")
    n = len(tokens) // block_size
    if n == 0:
        raise DataError(f"the {split} split of {name!r} has {len(tokens)} tokens, fewer than "
                        f"block_size={block_size}; use a smaller block_size or a longer text")
    x = tokens[: n * block_size].view(n, block_size).clone()
    if fim > 0 and split == "train":  # fill-in-the-middle training blocks (fim.py); the test split stays plain text
        x = fim_blocks(x, fim, fim_spm, {t: tok.token_id(t) for t in SENTINELS}, tok.eos_token_id, generator("train"))
    info = {"tokens": tokens.clone(), "n_chars": len(_splits(key)[split]), "block_size": block_size,
            "tokenizer_kind": tokenizer if isinstance(tokenizer, str) else "custom",
            "options": {"tokenizer": tokenizer, "block_size": block_size, "vocab_size": vocab_size}
            if isinstance(tokenizer, str) else {"block_size": block_size}}
    _, dedup, scrub, counts, digits, seed = key
    curation = {"dedup": dedup, "scrub": scrub, **({"canaries": ",".join(map(str, counts)), "canary_digits": digits,
                                                     "canary_seed": seed} if counts else {})}
    info["options"].update({k: v for k, v in curation.items() if v is not None})
    if fim > 0:
        info["options"].update(fim=fim, fim_spm=fim_spm)
    for extra in ("curation", "canaries"):
        if _splits(key)[extra] is not None:
            info[extra] = _splits(key)[extra]
    if key[0] == "pystdlib":
        info.update(python=platform.python_version(), source=sysconfig.get_paths()["stdlib"])
    return GenDataset(name, split, "text", x, tokenizer=tok, info=info)


@register_dataset("pystdlib")
def pystdlib(split: str = "train", tokenizer="char", block_size: int = 128, vocab_size: int = 1024, dedup=None,
             scrub=None, canaries=None, canary_digits: int = 6, canary_seed: int = 0, fim: float = 0.0,
             fim_spm: float = 0.5) -> GenDataset:
    """Python standard-library source as token blocks (see the module docstring); ``fim``: the share of
    training blocks in fill-in-the-middle order (``fim.py``), ``fim_spm`` the SPM share of those."""
    key = _corpus_key("pystdlib", dedup, scrub, canaries, canary_digits, canary_seed)
    return text_dataset("pystdlib", key, split, tokenizer, block_size, vocab_size, fim, fim_spm)


@register_dataset("text:")
def text_file(path: str, split: str = "train", tokenizer="char", block_size: int = 128, vocab_size: int = 1024,
              dedup=None, scrub=None, canaries=None, canary_digits: int = 6, canary_seed: int = 0, fim: float = 0.0,
              fim_spm: float = 0.5) -> GenDataset:
    """``text:PATH``: a user's UTF-8 text file, same layout as ``pystdlib``."""
    p = Path(path).expanduser()
    stat = p.stat() if p.is_file() else None
    if stat is None:
        read_text_file(path)  # raises the right error
    key = _corpus_key(("file", str(p.resolve()), stat.st_mtime_ns, stat.st_size), dedup, scrub, canaries,
                      canary_digits, canary_seed)
    return text_dataset(f"text:{path}", key, split, tokenizer, block_size, vocab_size, fim, fim_spm)
