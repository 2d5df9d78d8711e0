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

Text models: see ``extraction.py``.

Distances are Euclidean in raw data space by default (near-copies are literal copies), computed in
row blocks (``_pairwise``) so no samples × train matrix is held.
"""
from __future__ import annotations

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
    from ..data.loading import load_split_like
    from .sample_metrics import embedder_for, feature_sets

    if train is None:
        train = load_split_like(data, "train")
    s = feature_sets(model, data, feature_extractor=feature_extractor, **kw)
    train_x = train.x if hasattr(train, "x") else torch.as_tensor(train)
    train_feats, _ = embedder_for(data, feature_extractor)(train_x)
    return memorization_from_samples(s.fake, train_feats, s.real, seed=kw.get("seed", 0))

