"""Verbatim extraction of training text (Carlini et al. 2021, "Extracting Training Data from Large
Language Models").

- ``extraction_rate(generations, train, n)``: fraction of generations containing some length-n
  window of the training text verbatim, and fraction of generated positions so covered. Exact
  matching with 64-bit rolling hashes of every training window (sorted; binary search).
- Registered ``extraction``: prompt the model with the first ``prefix_len`` tokens of training rows,
  decode ``suffix_len`` tokens greedily; ``extraction_exact`` = fraction that reproduce the true
  training continuation token for token ("k-extractable"), against ``extraction_exact_heldout``
  for rows of ``data`` (held out): good prediction alone also completes some held-out rows, so
  memorization is the gap. ``extraction_rate`` is measured on the training-prompt continuations.
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import ConfigError, NotSupported
from ..registry import register_metric
from ..utils import model_device


def _window_hashes(ids: np.ndarray, n: int) -> np.ndarray:
    """64-bit polynomial hashes of every length-n window (wrap-around arithmetic, n vector passes)."""
    ids = ids.astype(np.uint64) + np.uint64(1)
    count = len(ids) - n + 1
    h = np.zeros(max(count, 0), dtype=np.uint64)
    base = np.uint64(1_000_003)
    with np.errstate(over="ignore"):
        for j in range(n):
            h = h * base + ids[j:j + count]
    return h


def _as_ids(x) -> np.ndarray:
    if isinstance(x, str):
        return np.frombuffer(x.encode("utf-32-le"), dtype=np.uint32)
    return np.asarray(torch.as_tensor(x).flatten().cpu(), dtype=np.int64)


def extraction_rate(generations, train, n: int = 50) -> dict[str, float]:
    """Verbatim extraction of training text (Carlini et al. 2021): ``extraction_rate`` is the fraction
    of generations that contain some length-``n`` window (tokens, or characters for strings) of the
    training text; ``extracted_fraction`` the fraction of generated positions covered by such windows.
    Exact matching by 64-bit rolling hashes of every training window (sorted, binary search)."""
    train_hashes = np.unique(_window_hashes(_as_ids(train), n))
    hit_docs, covered, total = 0, 0, 0
    for g in generations:
        ids = _as_ids(g)
        total += len(ids)
        hashes = _window_hashes(ids, n)
        if len(hashes) == 0 or len(train_hashes) == 0:
            continue
        pos = np.searchsorted(train_hashes, hashes).clip(max=len(train_hashes) - 1)
        hits = train_hashes[pos] == hashes
        if hits.any():
            hit_docs += 1
            mask = np.zeros(len(ids), dtype=bool)
            for start in np.flatnonzero(hits):
                mask[start:start + n] = True
            covered += int(mask.sum())
    return {"extraction_rate": hit_docs / max(1, len(generations)), "extracted_fraction": covered / max(1, total)}


@torch.no_grad()
def _continuations(model, rows: torch.Tensor, prefix_len: int, suffix_len: int) -> torch.Tensor:
    out = model.generate(rows[:, :prefix_len], max_new_tokens=suffix_len, do_sample=False)
    return out[:, prefix_len:prefix_len + suffix_len].cpu()


@register_metric("extraction")
def extraction_metric(model, data, *, train=None, num_prompts: int = 100, prefix_len: int = 32,
                      suffix_len: int = 32, ngram: int | None = None, seed: int = 0, **_) -> dict[str, float]:
    """Prompted extraction of training text (module docstring) for a model with ``generate``."""
    from ..data.loading import load_split_like

    if not hasattr(model, "generate"):
        raise NotSupported(f"{type(model).__name__} has no generate(); extraction needs a text model")
    train = load_split_like(data, "train") if train is None else train
    train_x = train.x if hasattr(train, "x") else torch.as_tensor(train)
    if train_x.dim() != 2 or train_x.shape[1] < prefix_len + suffix_len:
        raise ConfigError(f"extraction needs token rows of at least prefix_len + suffix_len = {prefix_len + suffix_len} "
                          f"tokens, got shape {tuple(train_x.shape)}; pass smaller prefix_len/suffix_len")
    g = torch.Generator().manual_seed(seed)
    device = model_device(model) if isinstance(model, torch.nn.Module) else torch.device("cpu")

    def exact(rows: torch.Tensor) -> tuple[float, torch.Tensor]:
        rows = rows[torch.randperm(len(rows), generator=g)[:num_prompts]]
        cont = _continuations(model, rows.to(device), prefix_len, suffix_len)
        return float((cont == rows[:, prefix_len:prefix_len + suffix_len]).all(1).double().mean()), cont

    on_train, continuations = exact(train_x)
    on_heldout, _ = exact(data.x)
    rate = extraction_rate(list(continuations), train_x, n=ngram or max(1, suffix_len // 2))
    return {"extraction_exact": on_train, "extraction_exact_heldout": on_heldout, **rate}
