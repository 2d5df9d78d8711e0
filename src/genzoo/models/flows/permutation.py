"""Permutations of the features: z = x[:, π], log|det| = 0 (Dinh et al. 2017; Papamakarios et al. 2017).

Stacked coupling / autoregressive layers need them so that every feature gets transformed and
conditions the others. ``Reverse`` is the fixed order flip; ``Permutation`` takes any (or a seeded
random) permutation. The permutation is rebuilt from the config, not stored as a weight.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .base import Transform


class Permutation(Transform):
    """Permute dimension ``dim`` (1 = features / channels) by ``perm``."""

    def __init__(self, perm: Sequence[int] | Tensor, dim: int = 1):
        super().__init__()
        perm = torch.as_tensor(perm, dtype=torch.long)
        if not torch.equal(perm.sort().values, torch.arange(len(perm))):
            raise ValueError("perm must be a permutation of 0..n-1")
        self.dim = dim
        self.register_buffer("perm", perm, persistent=False)
        self.register_buffer("inv_perm", perm.argsort(), persistent=False)

    @classmethod
    def random(cls, n: int, seed: int = 0, dim: int = 1) -> "Permutation":
        return cls(torch.randperm(n, generator=torch.Generator().manual_seed(seed)), dim)

    def forward(self, x: Tensor, context=None):
        return x.index_select(self.dim, self.perm), x.new_zeros(x.shape[0])

    def inverse(self, z: Tensor, context=None):
        return z.index_select(self.dim, self.inv_perm), z.new_zeros(z.shape[0])


class Reverse(Permutation):
    """Reverse the order of ``n`` features (or channels)."""

    def __init__(self, n: int, dim: int = 1):
        super().__init__(torch.arange(n - 1, -1, -1), dim)
