"""Precision / recall (Kynkäänniemi et al. 2019) and density / coverage (Naeem et al. 2020).

Each point's k-NN radius rᵢ is the distance to its k-th nearest neighbour in its own set (the
(k+1)-th smallest distance counting itself, as the ``prdc`` package does). With real Xᵢ, fake Yⱼ:

    precision = 1/M Σⱼ 1[∃i: d(Xᵢ,Yⱼ) < r(Xᵢ)]        recall   = 1/N Σᵢ 1[∃j: d(Xᵢ,Yⱼ) < r(Yⱼ)]
    density   = 1/(kM) Σⱼ Σᵢ 1[d(Xᵢ,Yⱼ) < r(Xᵢ)]      coverage = 1/N Σᵢ 1[minⱼ d(Xᵢ,Yⱼ) < r(Xᵢ)]

Everything is computed from blocks of rows (``_pairwise.row_blocks``): memory is O((N + M) D) plus
one 32 MiB distance block, never the N × M matrix. Squared distances (one GEMM per block) are
compared (same order), after centring both sets on the real mean (less float32 cancellation).
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import DataError
from ._checks import as_feature_pair
from ._pairwise import augment, row_blocks, sq_dists


def knn_sq_radii(x_aug: Tensor, k: int) -> Tensor:
    """Squared distance from each row of an ``augment``-ed set to its k-th nearest other row (blocked)."""
    radii = torch.empty(len(x_aug), dtype=x_aug.dtype, device=x_aug.device)
    for rows in row_blocks(len(x_aug), len(x_aug), x_aug.element_size()):
        d2 = sq_dists(x_aug[rows], x_aug)
        radii[rows] = d2.topk(k + 1, dim=1, largest=False, sorted=True).values[:, k]
    return radii


@torch.no_grad()
def prdc(real, fake, k: int = 5, dtype: torch.dtype = torch.float32) -> dict[str, float]:
    """``{"precision", "recall", "density", "coverage"}`` of fake features against real ones."""
    real, fake = as_feature_pair(real, fake, dtype=dtype)
    if k < 1 or min(len(real), len(fake)) <= k:
        raise DataError(f"prdc with k={k} needs more than k samples in each set (got {len(real)} real, "
                        f"{len(fake)} fake); pass more samples or a smaller k")
    centre = real.mean(0)
    real, fake = augment(real, centre), augment(fake, centre)
    r_real, r_fake = knn_sq_radii(real, k), knn_sq_radii(fake, k)

    fake_hits = torch.zeros(len(fake), dtype=torch.int32, device=fake.device)  # real balls containing Yⱼ
    recalled = torch.empty(len(real), dtype=torch.bool, device=real.device)
    covered = torch.empty(len(real), dtype=torch.bool, device=real.device)
    for rows in row_blocks(len(real), len(fake), real.element_size()):
        d2 = sq_dists(real[rows], fake)
        fake_hits += (d2 < r_real[rows, None]).sum(0, dtype=torch.int32)
        recalled[rows] = (d2 < r_fake[None, :]).any(1)
        covered[rows] = d2.min(1).values < r_real[rows]
    return {
        "precision": float((fake_hits > 0).double().mean()),
        "recall": float(recalled.double().mean()),
        "density": float(fake_hits.double().mean() / k),
        "coverage": float(covered.double().mean()),
    }
