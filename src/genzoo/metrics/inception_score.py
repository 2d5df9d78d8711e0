"""Inception Score (Salimans et al. 2016) from classifier logits.

    IS = exp( E_x KL(p(y|x) || p(y)) ),  p(y) = E_x p(y|x)

computed on ``splits`` equal chunks; returns the mean and the (sample) standard deviation over
chunks, as torchmetrics and the original code do. With ``generator`` the rows are shuffled first
(torchmetrics shuffles with the global RNG: the same seed gives the same chunks).
"""
from __future__ import annotations

import torch

from ..errors import DataError
from ._checks import as_features


def inception_score(logits, splits: int = 10, generator: torch.Generator | None = None) -> tuple[float, float]:
    """IS mean and std over ``splits`` chunks of (N, C) logits (unnormalised log-probabilities)."""
    logits = as_features(logits, "logits")
    if len(logits) < splits:
        raise DataError(f"inception_score needs at least splits={splits} rows, got {len(logits)}; pass fewer splits")
    if generator is not None:
        logits = logits[torch.randperm(len(logits), generator=generator).to(logits.device)]
    log_p = logits.log_softmax(dim=1)
    scores = []
    for chunk in log_p.chunk(splits, dim=0):
        log_marginal = chunk.exp().mean(0, keepdim=True).log()
        kl = (chunk.exp() * (chunk - log_marginal)).sum(1).mean()
        scores.append(kl.exp())
    scores = torch.stack(scores)
    return float(scores.mean()), float(scores.std()) if splits > 1 else 0.0
