"""``pystdlib-summaries``: code summarisation pairs from the Python standard library (a seq2seq set).

Every function and method with a docstring in the standard library's files (``genzoo.data.text.stdlib_files``:
the whole Lib tree without tests, sorted) gives one pair

    source = the function's code (decorators excluded, dedented) with its docstring lines removed,
    target = the first line of its docstring (``inspect.cleandoc``), stripped.

Functions whose body is only the docstring, whose docstring does not sit on lines of its own, or whose
summary is under 8 or over ``target_length - 1`` characters are skipped. Pairs are split **by top-level
module** (``json.decoder`` counts as ``json``), so no module's code is in two splits: the bucket
``sha256(module) mod 100`` puts 80 % of modules in ``train``, 10 % in ``val`` and 10 % in ``test``.
The walk and the split are deterministic for a given Python version (``info["python"]``).

Tokens: one character-level vocabulary shared by sources and targets (trained on the train split's
text) with ``<|endoftext|>`` (id 0, EOS), ``<|unk|>`` (1) and ``<pad>`` (the last id; also the
decoder's start token, as in T5). A row of ``x`` is the packed pair
``[source ids (source_length) | target ids + EOS (target_length)]``, right-padded; sources longer than
``source_length`` keep their first ``source_length`` characters (counted in ``info["truncated_sources"]``).
``info["pairs"]`` holds the raw ``{"module", "name", "source", "summary"}`` of each row.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import json
import os
import platform
import sysconfig
import textwrap
from pathlib import Path

import torch

from ..errors import DataError
from ..registry import register_dataset
from .base import GenDataset
from .tokenizers import Tokenizer

PAD = "<pad>"
SPLITS = ("train", "val", "test")
MIN_SUMMARY = 8
CACHE_VERSION = 1  # bump when function_pairs changes


def module_split(module: str) -> str:
    """``train``/``val``/``test`` of a module, by a stable hash of its top-level name."""
    bucket = int(hashlib.sha256(module.split(".")[0].encode()).hexdigest(), 16) % 100
    return "train" if bucket < 80 else "val" if bucket < 90 else "test"


def function_pairs(source: str, module: str) -> list[dict]:
    """The (code without docstring, first docstring line) pairs of one file's functions and methods."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    lines = source.splitlines(keepends=True)
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        doc = ast.get_docstring(node)
        if not doc or len(node.body) < 2:
            continue
        summary = inspect.cleandoc(doc).strip().splitlines()[0].strip()
        first, body0 = node.lineno, node.body[0]
        # the docstring must own its lines: nothing else on its first or last line
        if lines[body0.lineno - 1][:body0.col_offset].strip() or lines[body0.end_lineno - 1][body0.end_col_offset:].strip():
            continue
        code = lines[first - 1:body0.lineno - 1] + lines[body0.end_lineno:node.end_lineno]
        out.append({"module": module, "name": node.name, "source": textwrap.dedent("".join(code)), "summary": summary})
    out.sort(key=lambda p: (p["source"], p["summary"]))  # ast.walk order is breadth-first; make it by text
    return out


@functools.lru_cache(maxsize=1)
def all_pairs() -> tuple[dict, ...]:
    """Every pair of the standard library's files, in file order (parsed once, ~10 s, then read from
    ``~/.cache/genzoo/`` under a key of the Python version and the files' paths and sizes)."""
    from .disk_cache import cached_json
    from .text import stdlib_files

    root = sysconfig.get_paths()["stdlib"]
    files = stdlib_files(root)
    key = hashlib.sha256(json.dumps([platform.python_version(), root, CACHE_VERSION] +
                                    [(rel, os.path.getsize(os.path.join(root, rel))) for rel in files]).encode()).hexdigest()[:16]

    def parse() -> list[dict]:
        found = []
        for rel in files:
            source = Path(root, rel).read_bytes().decode("utf-8", errors="replace")
            found += function_pairs(source, rel[:-3].replace("/", ".").removesuffix(".__init__"))
        return found

    return tuple(cached_json(f"pystdlib-summaries-{key}.json", parse))


@functools.lru_cache(maxsize=4)
def _tokenizer(target_length: int) -> Tokenizer:
    train = [p for p in _kept(target_length) if module_split(p["module"]) == "train"]
    tok = Tokenizer.train_char("".join(p["source"] + p["summary"] for p in train))
    tok.hf.add_special_tokens([PAD])
    return Tokenizer(tok.hf)


def _kept(target_length: int) -> list[dict]:
    return [p for p in all_pairs() if MIN_SUMMARY <= len(p["summary"]) <= target_length - 1]


def encode_pairs(pairs: list[dict], tokenizer: Tokenizer, source_length: int, target_length: int) -> tuple[torch.Tensor, int]:
    """Packed rows (N, source_length + target_length) and how many sources were truncated."""
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    x = torch.full((len(pairs), source_length + target_length), pad, dtype=torch.long)
    truncated = 0
    for i, p in enumerate(pairs):
        src = tokenizer.encode(p["source"])
        tgt = (tokenizer.encode(p["summary"]) + [eos])[:target_length]
        truncated += len(src) > source_length
        src = src[:source_length]
        x[i, :len(src)] = torch.tensor(src, dtype=torch.long)
        x[i, source_length:source_length + len(tgt)] = torch.tensor(tgt, dtype=torch.long)
    return x, truncated


@register_dataset("pystdlib-summaries")
def pystdlib_summaries(split: str = "train", source_length: int = 256, target_length: int = 64,
                       tokenizer: Tokenizer | None = None) -> GenDataset:
    """Code summarisation pairs (see the module docstring); kind ``"seq2seq"``."""
    if split not in SPLITS:
        raise DataError(f"dataset 'pystdlib-summaries' has no split {split!r}; valid splits: {', '.join(SPLITS)}")
    for name, value in (("source_length", source_length), ("target_length", target_length)):
        if not isinstance(value, int) or value < 2:
            raise DataError(f"{name} must be an integer >= 2, got {value!r}")
    pairs = [p for p in _kept(target_length) if module_split(p["module"]) == split]
    tok = tokenizer if tokenizer is not None else _tokenizer(target_length)
    if tok.pad_token_id == tok.eos_token_id:
        raise DataError("the tokenizer needs a <pad> token distinct from EOS (the decoder's start and padding id)")
    x, truncated = encode_pairs(pairs, tok, source_length, target_length)
    info = {"pairs": pairs, "truncated_sources": truncated, "max_source_length": source_length,
            "max_target_length": target_length, "pad_token_id": tok.pad_token_id, "eos_token_id": tok.eos_token_id,
            "decoder_start_token_id": tok.pad_token_id, "modules": sorted({p["module"].split(".")[0] for p in pairs}),
            "options": {"source_length": source_length, "target_length": target_length},
            "python": platform.python_version()}
    return GenDataset("pystdlib-summaries", split, "seq2seq", x, tokenizer=tok, info=info)
