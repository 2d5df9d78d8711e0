"""Memorization: how close generated samples come to the training set, relative to held-out data.

For each sample s with training neighbours at distances d₁ ≤ d₂ and held-out neighbour at d_h:

- ``mem_nn_train``: mean d₁; ``mem_nn_heldout``: mean distance from each held-out example to its
  nearest training example; ``mem_nn_ratio`` = their ratio. Both are measured against the same
  training set, so set sizes cancel; < 1 means samples sit closer to the training data than fresh
  data from the distribution does (the data-copying test of Meehan et al. 2020, in its mean form).
- ``mem_near_copies``: fraction with d₁ < d₂ / 3, Carlini et al. (2023) "Extracting Training Data
  from Diffusion Models": the closest training example is much closer than the next one, i.e. the
  sample copies one specific training example rather than lying in a dense region.
- ``dcr_median`` / ``dcr_p5``: distance to closest record (median, 5th percentile), as used for
  synthetic tabular data; ``dcr_closer_to_train``: fraction of samples closer to the training set
  than to an equally large held-out set (≈ 0.5 without memorization).

Text: ``extraction_rate`` counts generations that reproduce a length-n window of the training text
verbatim (Carlini et al. 2021, "Extracting Training Data from Large Language Models").

Distances are Euclidean in raw data space by default (near-copies are literal copies), computed in
row blocks (``_pairwise``) so no samples × train matrix is held.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..registry import register_metric
from ._checks import as_feature_pair
from ._pairwise import augment, row_blocks, sq_dists


def nearest_distances(queries: Tensor, reference: Tensor, k: int = 1) -> Tensor:
    """(N, k) ascending Euclidean distances from each query row to its k nearest reference rows."""
    queries, reference = as_feature_pair(queries, reference)
    q, r = augment(queries), augment(reference)
    out = torch.empty(len(q), k, dtype=q.dtype, device=q.device)
    for rows in row_blocks(len(q), len(r), q.element_size()):
        out[rows] = sq_dists(q[rows], r).topk(k, dim=1, largest=False, sorted=True).values
    return out.clamp_min_(0).sqrt_()


def memorization_from_samples(samples, train, heldout, *, ratio: float = 1 / 3, seed: int = 0) -> dict[str, float]:
    """The statistics of the module docstring for (N, D) samples against train and held-out rows."""
    samples, train = as_feature_pair(samples, train)
    _, heldout = as_feature_pair(samples, heldout)
    d_train = nearest_distances(samples, train, k=2)
    d1, d2 = d_train[:, 0], d_train[:, 1]
    fresh = nearest_distances(heldout, train)[:, 0]
    n = min(len(train), len(heldout))  # equal-size sets for the closer-to-train comparison
    g = torch.Generator().manual_seed(seed)
    d_train_eq = nearest_distances(samples, train[torch.randperm(len(train), generator=g)[:n]])[:, 0]
    d_held_eq = nearest_distances(samples, heldout[torch.randperm(len(heldout), generator=g)[:n]])[:, 0]
    return {
        "mem_nn_train": float(d1.mean()),
        "mem_nn_heldout": float(fresh.mean()),
        "mem_nn_ratio": float(d1.mean() / fresh.mean().clamp_min(1e-12)),
        "mem_near_copies": float((d1 < ratio * d2).double().mean()),
        "dcr_median": float(d1.median()),
        "dcr_p5": float(d1.quantile(0.05)),
        "dcr_closer_to_train": float((d_train_eq < d_held_eq).double().mean()),
    }


@register_metric("memorization")
def memorization_metric(model, data, *, train=None, feature_extractor="raw", **kw) -> dict[str, float]:
    """Memorization of model samples (or ``samples=``); ``data`` is held out, ``train`` defaults to
    the training split of the same dataset."""
    from ..data import load_dataset
    from .sample_metrics import embedder_for, feature_sets

    if train is None:
        train = load_dataset(data.name, split="train")
    s = feature_sets(model, data, feature_extractor=feature_extractor, **kw)
    train_x = train.x if hasattr(train, "x") else torch.as_tensor(train)
    train_feats, _ = embedder_for(data, feature_extractor)(train_x)
    return memorization_from_samples(s.fake, train_feats, s.real, seed=kw.get("seed", 0))


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
