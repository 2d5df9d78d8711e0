"""Data curation: exact and near-duplicate removal, and a PII scrub hook (docs/privacy.md, "Curation").

``dedup(items, method="exact" | "minhash", threshold=0.8, num_perm=128, shingle=5)`` keeps the first
of every group of duplicates, in order, and returns ``(kept_indices, report)`` with
``report = {"total", "exact_duplicates", "near_duplicates", "kept", "removed"}``.

- ``exact``: an item is dropped when its bytes (text: UTF-8 after collapsing whitespace; images:
  the pixels quantised to 256 levels) hash (SHA-1) like an earlier kept item's.
- ``minhash`` (Broder 1997, "On the resemblance and containment of documents"): the exact pass,
  then near-duplicates by Jaccard similarity J(A, B) = |A ∩ B| / |A ∪ B| of shingle sets, estimated
  by datasketch's ``MinHash`` (Pr[min π(A) = min π(B)] = J over ``num_perm`` permutations) and
  found by its ``MinHashLSH`` (b bands of r rows, candidate probability 1 − (1 − J^r)^b, tuned by
  datasketch for ``threshold``). A candidate counts only when its estimated J ≥ ``threshold``.
  Shingles: text, the set of ``shingle``-character substrings (``unit="word"``: ``shingle``-word
  windows); token rows, windows of ``shingle`` token ids; images, the downsampled image
  (average-pooled to at most 16×16) quantised to 8 levels as the set of (channel, row, column,
  level) tokens (cell = flat index) — a fraction f of agreeing cells gives J = f / (2 − f) (f = 0.9: J ≈ 0.82).

``curate_text(text, dedup=..., scrub=...)``: a corpus cut into documents at blank lines, each
scrubbed (``scrub``: a callable text → text, e.g. a PII redactor, or ``"module:function"``), then
deduplicated; documents under ``min_chars`` characters are kept and not counted. The text datasets
take it as options (``--data-arg dedup=minhash``, ``--data-arg scrub=pkg.mod:redact``).
"""
from __future__ import annotations

import hashlib
import importlib
import re
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..errors import ConfigError, DataError

METHODS = ("exact", "minhash")
IMAGE_CELLS, IMAGE_LEVELS = 16, 8


def _check(method: str, threshold: float, num_perm: int, shingle: int, unit: str) -> None:
    if method not in METHODS:
        raise ConfigError(f"unknown dedup method {method!r}; use 'exact' or 'minhash'")
    if not 0 < threshold <= 1:
        raise ConfigError(f"dedup threshold must be in (0, 1], got {threshold}")
    if not isinstance(num_perm, int) or num_perm < 2:
        raise ConfigError(f"num_perm must be an integer >= 2, got {num_perm!r}")
    if not isinstance(shingle, int) or shingle < 1:
        raise ConfigError(f"shingle must be a positive integer, got {shingle!r}")
    if unit not in ("char", "word"):
        raise ConfigError(f"unit must be 'char' or 'word', got {unit!r}")


def _as_items(items) -> tuple[str, list]:
    """("text", strings) | ("tokens", id tuples) | ("image", (C, H, W) float tensors)."""
    x = getattr(items, "x", items)
    kind = getattr(items, "kind", None)
    if isinstance(x, torch.Tensor):
        if kind == "text" or (not x.is_floating_point() and x.dim() == 2):
            return "tokens", [tuple(row) for row in x.tolist()]
        if x.dim() == 3:
            x = x.unsqueeze(1)
        if x.dim() != 4:
            raise DataError(f"dedup handles texts, token rows and images (N, C, H, W); got shape {tuple(x.shape)}")
        return "image", list(x.float())
    items = list(x)
    if all(isinstance(t, str) for t in items):
        return "text", items
    if all(isinstance(t, torch.Tensor) and t.dim() in (2, 3) for t in items):
        return "image", [t.float() if t.dim() == 3 else t.float().unsqueeze(0) for t in items]
    raise DataError("dedup takes a genzoo dataset, a list of strings or a list/tensor of images")


def _quantised(img: torch.Tensor, levels: int) -> torch.Tensor:
    """Pixels in [-1, 1] (or [0, 1], or [0, 255]) to integer levels 0..levels-1."""
    lo, hi = float(img.min()), float(img.max())
    lo, hi = (0.0, 255.0) if hi > 1.0 else (-1.0 if lo < 0 else 0.0, 1.0)
    return ((img - lo) / (hi - lo) * (levels - 1)).round().clamp(0, levels - 1).to(torch.uint8)


def _exact_key(kind: str, item) -> bytes:
    if kind == "text":
        raw = " ".join(item.split()).encode("utf-8")
    elif kind == "tokens":
        raw = repr(item).encode()
    else:
        raw = repr(tuple(item.shape)).encode() + _quantised(item, 256).numpy().tobytes()
    return hashlib.sha1(raw).digest()


def _shingles(kind: str, item, shingle: int, unit: str) -> set[bytes]:
    if kind == "image":
        size = (min(IMAGE_CELLS, item.shape[1]), min(IMAGE_CELLS, item.shape[2]))
        q = _quantised(F.adaptive_avg_pool2d(item, size), IMAGE_LEVELS)
        return {f"{k},{v}".encode() for k, v in enumerate(q.flatten().tolist())}  # (cell, level)
    if kind == "text":
        seq = item.split() if unit == "word" else " ".join(item.split())
    else:
        seq = item
    n = min(shingle, len(seq))
    return {repr(tuple(seq[i:i + n])).encode() for i in range(max(1, len(seq) - n + 1))}


def dedup(items, method: str = "exact", threshold: float = 0.8, num_perm: int = 128, shingle: int = 5,
          unit: str = "char", seed: int = 1) -> tuple[list[int], dict[str, int]]:
    """Indices of the items to keep (first of each duplicate group, in order) and the counts
    (module docstring). ``items``: a ``GenDataset`` (image or text rows), a list of strings, or a
    list / (N, C, H, W) tensor of images."""
    _check(method, threshold, num_perm, shingle, unit)
    kind, items = _as_items(items)
    seen: set[bytes] = set()
    kept, exact = [], 0
    for i, item in enumerate(items):
        key = _exact_key(kind, item)
        if key in seen:
            exact += 1
        else:
            seen.add(key)
            kept.append(i)
    near = 0
    if method == "minhash":
        kept, near = _near_dedup(kind, items, kept, threshold, num_perm, shingle, unit, seed)
    return kept, {"total": len(items), "exact_duplicates": exact, "near_duplicates": near,
                  "kept": len(kept), "removed": len(items) - len(kept)}


def _near_dedup(kind, items, order, threshold, num_perm, shingle, unit, seed) -> tuple[list[int], int]:
    try:
        from datasketch import MinHash, MinHashLSH
    except ImportError:
        raise ConfigError("dedup method 'minhash' needs datasketch: pip install 'genzoo[curate]'") from None
    try:
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    except ValueError as e:  # too few bands for this threshold
        raise ConfigError(f"dedup threshold={threshold} with num_perm={num_perm}: {e}; raise num_perm") from None
    kept, near, hashes = [], 0, {}
    for i in order:
        m = MinHash(num_perm=num_perm, seed=seed)
        m.update_batch(list(_shingles(kind, items[i], shingle, unit)))
        if any(hashes[j].jaccard(m) >= threshold for j in lsh.query(m)):
            near += 1
            continue
        lsh.insert(i, m)
        hashes[i] = m
        kept.append(i)
    return kept, near


# ----------------------------------------------------------------------------- text corpora
def resolve_scrub(scrub) -> Callable[[str], str] | None:
    """``scrub``: None, a callable text → text, or ``"module:function"`` naming one."""
    if scrub is None or callable(scrub):
        return scrub
    if isinstance(scrub, str) and ":" in scrub:
        module, _, name = scrub.partition(":")
        try:
            fn = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"scrub={scrub!r}: cannot import it ({e}); pass module:function of a text -> text callable") from None
        if callable(fn):
            return fn
    raise ConfigError(f"scrub={scrub!r} is not a callable; pass a text -> text function or 'module:function'")


def split_documents(text: str) -> list[str]:
    """The corpus cut at blank lines; each document keeps its trailing separator (they join back to ``text``)."""
    parts = re.split(r"(\n[ \t]*\n)", text)
    return [parts[i] + (parts[i + 1] if i + 1 < len(parts) else "") for i in range(0, len(parts), 2)]


def curate_text(text: str, *, dedup_method: str | None = None, scrub=None, min_chars: int = 50,
                **dedup_kw) -> tuple[str, dict[str, int]]:
    """The corpus scrubbed document by document, then deduplicated (module docstring); the report
    counts documents (those under ``min_chars`` characters are always kept and not counted)."""
    fn = resolve_scrub(scrub)
    docs = split_documents(text)
    if fn is not None:
        docs = [fn(d) for d in docs]
        if not all(isinstance(d, str) for d in docs):
            raise DataError("the scrub function must return a string for every document")
    report: dict[str, int] = {"documents": len(docs)}
    if dedup_method is not None:
        long_ones = [i for i, d in enumerate(docs) if len(d.strip()) >= min_chars]
        kept, counts = dedup([docs[i] for i in long_ones], dedup_method, **dedup_kw)
        dropped = set(long_ones) - {long_ones[k] for k in kept}
        docs = [d for i, d in enumerate(docs) if i not in dropped]
        report.update(counts)
    return "".join(docs), report
