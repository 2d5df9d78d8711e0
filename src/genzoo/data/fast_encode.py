"""Fast exact encoders for long texts (a whole corpus), equal id for id to HF ``Tokenizer.encode``.

HF's pipeline spends most of its time building per-token offsets: ~1 us per character for the
char tokenizer and ~0.7 us per character in the ByteLevel regex for BPE. For the two layouts this
package trains (and GPT-2 ``tokenizer.json`` files) the same ids come out of:

- char (WordLevel over single characters): a vectorised code-point -> id lookup (numpy);
- byte-level BPE: the same GPT-2 split regex (Python ``regex`` module), then the BPE model on each
  *distinct* pre-token once (source code repeats its words: ~20k distinct in 700k).

``plan(hf)`` inspects the tokenizer.json and returns an encoder, or ``None`` when the layout is
anything else (normalizers, other pre-tokenizers, BPE dropout ...), and the caller uses HF. Texts
that contain an added token's literal (e.g. ``<|endoftext|>``) also go to HF, which matches those.
Tests check equality with HF on the stdlib corpus and on unicode edge cases.
"""
from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np

GPT2_SPLIT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
CHAR_SPLIT = {"type": "Split", "pattern": {"Regex": "[\\s\\S]"}, "behavior": "Isolated", "invert": False}


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table (the ByteLevel alphabet)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, n = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + n)
            n += 1
    return table


def plan(hf) -> Callable[[str], np.ndarray] | None:
    """An exact fast encoder for this HF tokenizer, or ``None``."""
    spec = json.loads(hf.to_str())
    if spec.get("normalizer") is not None:
        return None
    model, pre = spec["model"], spec.get("pre_tokenizer") or {}
    specials = [t["content"] for t in spec.get("added_tokens", [])]
    if model["type"] == "WordLevel" and pre == CHAR_SPLIT and all(len(k) == 1 for k in model["vocab"] if k not in specials):
        encode = _char_encoder(model["vocab"], model["vocab"].get(model.get("unk_token")), specials)
    elif (model["type"] == "BPE" and not model.get("dropout") and pre.get("type") == "ByteLevel"
          and not pre.get("add_prefix_space") and pre.get("use_regex", True)):
        encode = _bpe_encoder(hf.model)
    else:
        return None
    if encode is None:
        return None

    def guarded(text: str) -> np.ndarray | None:
        return None if any(s in text for s in specials) else encode(text)

    return guarded


def _char_encoder(vocab: dict[str, int], unk: int | None, specials: list[str]):
    chars = sorted((ord(c), i) for c, i in vocab.items() if c not in specials)
    keys = np.array([c for c, _ in chars], dtype=np.uint32)
    ids = np.array([i for _, i in chars], dtype=np.int64)

    def encode(text: str) -> np.ndarray | None:
        try:
            cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        except UnicodeEncodeError:  # lone surrogates: let HF decide
            return None
        pos = np.minimum(np.searchsorted(keys, cps), len(keys) - 1)
        hit = keys[pos] == cps
        if unk is None and not hit.all():
            return None
        return np.where(hit, ids[pos], unk if unk is not None else 0)

    return encode if len(keys) else None


def _bpe_encoder(model):
    try:
        import regex
    except ImportError:  # optional: HF does the same, slower
        return None
    split = regex.compile(GPT2_SPLIT)
    byte_char = bytes_to_unicode()

    def encode(text: str) -> np.ndarray:
        words = split.findall(text)
        table = {}
        for w in dict.fromkeys(words):
            mapped = "".join(byte_char[b] for b in w.encode("utf-8", "surrogatepass"))
            table[w] = [t.id for t in model.tokenize(mapped)]
        return np.fromiter((i for w in words for i in table[w]), dtype=np.int64)

    return encode
