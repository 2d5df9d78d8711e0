"""Maximum mean discrepancy (Gretton et al. 2012) and energy distance (Székely & Rizzo 2013).

    MMD²(P, Q) = E k(x,x') + E k(y,y') - 2 E k(x,y)
        rbf kernel:  k(x,y) = Σ_σ exp(-||x-y||² / (2σ²))  (a sum over bandwidths σ)
        poly kernel: k(x,y) = (xᵀy / D + 1)³                (the KID kernel)
    E²(P, Q)   = 2 E||x-y|| - E||x-x'|| - E||y-y'||

``unbiased=True`` gives the U-statistics (pairs i ≠ j within a set; MMD² may be slightly negative),
``unbiased=False`` the V-statistics (all pairs; E² ≥ 0 and equal to scipy's ``energy_distance``²
in one dimension). Sums are accumulated over row blocks, so no N × M matrix is ever held.
Default RBF bandwidths: the median pairwise distance of the pooled first 1000 rows of each set,
times (0.5, 1, 2).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ..errors import ConfigError
from ._checks import as_feature_pair
from .kid import polynomial_kernel
from ._pairwise import augment, row_blocks, sq_dists


def mean_pair_value(x: Tensor, y: Tensor, fn: Callable[[Tensor], Tensor], same: bool, unbiased: bool) -> Tensor:
    """Mean of fn(||xᵢ - yⱼ||²) over pairs (i ≠ j when ``same`` and ``unbiased``), blockwise."""
    x_aug, y_aug = augment(x), augment(y)
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    for rows in row_blocks(len(x), len(y), x.element_size()):
        d2 = sq_dists(x_aug[rows], y_aug).clamp_min_(0)
        if same:  # self-distances are exactly zero, not GEMM round-off
            d2[torch.arange(d2.shape[0]), torch.arange(rows.start, rows.stop)] = 0
        total += fn(d2).sum(dtype=torch.float64)
    pairs = len(x) * len(y)
    if same and unbiased:
        total -= len(x) * fn(torch.zeros((), dtype=x.dtype, device=x.device)).double()
        pairs -= len(x)
    return total / pairs


def poly_mean(x: Tensor, y: Tensor, same: bool, unbiased: bool) -> Tensor:
    """Mean of the KID kernel (xᵀy/D + 1)³ over pairs, blockwise (a function of xᵀy, not of distance)."""
    total = sum(polynomial_kernel(x[rows], y).sum(dtype=torch.float64) for rows in row_blocks(len(x), len(y)))
    pairs = len(x) * len(y)
    if same and unbiased:
        total = total - ((x.square().sum(1) / x.shape[1] + 1) ** 3).sum()
        pairs -= len(x)
    return total / pairs


def median_bandwidth(x: Tensor, y: Tensor, max_rows: int = 1000) -> float:
    pooled = torch.cat([x[:max_rows], y[:max_rows]])
    d2 = sq_dists(augment(pooled), augment(pooled)).clamp_min_(0)
    off = d2[~torch.eye(len(pooled), dtype=torch.bool, device=d2.device)]
    return float(off.median().clamp_min(1e-12).sqrt())


def mmd(x, y, kernel: str = "rbf", bandwidths: Sequence[float] | None = None, unbiased: bool = True) -> float:
    """MMD² between samples x (N, D) and y (M, D) with an RBF (multi-bandwidth) or polynomial kernel."""
    x, y = as_feature_pair(x, y, min_rows=2)
    if kernel == "rbf":
        if bandwidths is None:
            med = median_bandwidth(x, y)
            bandwidths = (0.5 * med, med, 2.0 * med)
        inv = [1.0 / (2.0 * float(s) ** 2) for s in bandwidths]
        fn = lambda d2: sum(torch.exp(-c * d2) for c in inv)  # noqa: E731
        kxx = mean_pair_value(x, x, fn, True, unbiased)
        kyy = mean_pair_value(y, y, fn, True, unbiased)
        kxy = mean_pair_value(x, y, fn, False, unbiased)
    elif kernel == "poly":
        kxx, kyy, kxy = poly_mean(x, x, True, unbiased), poly_mean(y, y, True, unbiased), poly_mean(x, y, False, unbiased)
    else:
        raise ConfigError(f"unknown MMD kernel {kernel!r}; use 'rbf' or 'poly'")
    return float(kxx + kyy - 2 * kxy)


def energy_distance(x, y, unbiased: bool = False) -> float:
    """Squared energy distance E² = 2E||x-y|| - E||x-x'|| - E||y-y'|| between (N, D) and (M, D) samples."""
    x, y = as_feature_pair(x, y, min_rows=2)
    dist = torch.sqrt
    exy = mean_pair_value(x, y, dist, False, unbiased)
    exx = mean_pair_value(x, x, dist, True, unbiased)
    eyy = mean_pair_value(y, y, dist, True, unbiased)
    return float(2 * exy - exx - eyy)
