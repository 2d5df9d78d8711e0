"""Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD² with a polynomial kernel.

    k(x, y) = (γ xᵀy + c)^d,  γ = 1 / D by default, c = 1, d = 3
    MMD²_u = 1/(m(m-1)) Σ_{i≠j} [k(xᵢ,xⱼ) + k(yᵢ,yⱼ)] - 2/m² Σ_{i,j} k(xᵢ,yⱼ)

averaged over ``subsets`` random subsets of ``subset_size`` rows of each set. The subsets are drawn
exactly as torchmetrics draws them (``randperm`` of the real set, then of the fake set, per subset),
so the same seed gives the same subsets and the same value.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import DataError
from ._checks import as_feature_pair


def polynomial_kernel(x: Tensor, y: Tensor, degree: int = 3, gamma: float | None = None, coef: float = 1.0) -> Tensor:
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    return (x @ y.T * gamma + coef) ** degree


def unbiased_mmd2(k_xx: Tensor, k_xy: Tensor, k_yy: Tensor) -> Tensor:
    """MMD² U-statistic from the three kernel matrices (equal sample sizes m)."""
    m = k_xx.shape[0]
    off_diag = (k_xx.sum() - k_xx.diagonal().sum()) + (k_yy.sum() - k_yy.diagonal().sum())
    return off_diag / (m * (m - 1)) - 2 * k_xy.sum() / (m * m)


def kid_from_features(real, fake, subsets: int = 100, subset_size: int = 1000, degree: int = 3,
                      gamma: float | None = None, coef: float = 1.0,
                      generator: torch.Generator | None = None) -> tuple[float, float]:
    """KID mean and (population) standard deviation over subsets, from (N, D) feature sets."""
    real, fake = as_feature_pair(real, fake, min_rows=2)
    if subset_size < 2 or subset_size > min(len(real), len(fake)):
        raise DataError(f"KID subset_size={subset_size} must be between 2 and the smaller set size "
                        f"({min(len(real), len(fake))}); pass a smaller subset_size or more samples")
    def kern(a: Tensor, b: Tensor) -> Tensor:
        return polynomial_kernel(a, b, degree, gamma, coef)

    scores = []
    for _ in range(subsets):
        x = real[torch.randperm(len(real), generator=generator)[:subset_size].to(real.device)]
        y = fake[torch.randperm(len(fake), generator=generator)[:subset_size].to(fake.device)]
        scores.append(unbiased_mmd2(kern(x, x), kern(x, y), kern(y, y)))
    scores = torch.stack(scores)
    return float(scores.mean()), float(scores.std(unbiased=False))
