"""Fréchet distance between Gaussians fitted to two feature sets (FID; Heusel et al. 2017).

    d² = ||μ₁ - μ₂||² + Tr(Σ₁) + Tr(Σ₂) - 2 Tr((Σ₁ Σ₂)^½)

Σ₁Σ₂ is not symmetric, so the usual ``scipy.linalg.sqrtm(Σ₁ @ Σ₂)`` (or the eigenvalues of that
product, as torchmetrics does) works with a non-symmetric matrix. Its eigenvalues equal those of
the symmetric positive semi-definite M = Σ₁^½ Σ₂ Σ₁^½, hence Tr((Σ₁Σ₂)^½) = Σᵢ √λᵢ(M). With
Σ₁ = U Λ Uᵀ, M is similar to Λ^½ (Uᵀ Σ₂ U) Λ^½, so one symmetric ``eigh`` and one ``eigvalsh`` in
float64 give the trace: no complex parts, no negative eigenvalues beyond round-off (clipped to 0).
"""
from __future__ import annotations

import torch
from torch import Tensor

from ._checks import as_feature_pair
from ._pairwise import row_blocks


def gaussian_stats(features: Tensor) -> tuple[Tensor, Tensor]:
    """Float64 mean and unbiased covariance (divisor N - 1) of (N, D) features, accumulated over row
    blocks: memory O(D²) beyond the input whatever its dtype and N."""
    n, d = features.shape
    mu = sum(features[rows].sum(0, dtype=torch.float64) for rows in row_blocks(n, d, 8)) / n
    cov = torch.zeros(d, d, dtype=torch.float64, device=features.device)
    for rows in row_blocks(n, d, 8):
        centred = features[rows].double() - mu
        cov.addmm_(centred.T, centred)
    return mu, cov / (n - 1)


def trace_sqrt_product(sigma1: Tensor, sigma2: Tensor) -> Tensor:
    """Tr((Σ₁ Σ₂)^½) for symmetric PSD Σ₁, Σ₂ via two symmetric eigen-decompositions."""
    evals, evecs = torch.linalg.eigh(sigma1)
    root = evals.clamp_min(0).sqrt()
    m = evecs.T @ sigma2 @ evecs
    m = root[:, None] * m * root[None, :]
    return torch.linalg.eigvalsh((m + m.T) / 2).clamp_min(0).sqrt().sum()


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> float:
    """Fréchet distance between N(μ₁, Σ₁) and N(μ₂, Σ₂) (statistics in float64)."""
    mu1, sigma1, mu2, sigma2 = (t.to(torch.float64) for t in (mu1, sigma1, mu2, sigma2))
    d2 = (mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * trace_sqrt_product(sigma1, sigma2)
    return float(d2.clamp_min(0))


def fid_from_features(real, fake) -> float:
    """FID between two (N, D) feature sets (tensors or arrays; at least 2 rows each)."""
    real, fake = as_feature_pair(real, fake, dtype=None, min_rows=2)
    return frechet_distance(*gaussian_stats(real), *gaussian_stats(fake))
