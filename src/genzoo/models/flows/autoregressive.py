"""Masked autoregressive transforms: MAF (Papamakarios et al. 2017) and IAF (Kingma et al. 2016).

With a MADE conditioner (``genzoo.nn.made``) producing θ_d(x_{<d}) for every d in ONE pass,

    z_d = g(x_d; θ_d(x_{<d})),     log|det ∂z/∂x| = Σ_d log|g'(x_d; θ_d)|

(triangular Jacobian). The density direction x -> z is one network pass (fast training by maximum
likelihood); the sampling direction needs one pass per autoregressive step:
x_d = g^{-1}(z_d; θ_d(x_{<d})). IAF is the same transform inverted (``Invert``): fast sampling,
sequential density. ``g`` is affine (MAF/IAF) or a rational-quadratic spline (NSF, Durkan 2019).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ...nn.made import MADE
from .base import Transform


class MaskedAutoregressive(Transform):
    """z = g(x; MADE(x)) on (N, D) vectors, with an optional context (N, C)."""

    def __init__(self, features: int, elementwise, hidden: Sequence[int] = (64, 64), context_features: int = 0,
                 order: Sequence[int] | Tensor | None = None, activation: type[nn.Module] = nn.ReLU):
        super().__init__()
        self.map = elementwise
        self.made = MADE(features, hidden, elementwise.num_params, context_features, order, activation)
        last = self.made.net[-1]
        nn.init.zeros_(last.weight)  # start at the identity map: zero parameters give g = id
        nn.init.zeros_(last.bias)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        z, ld = self.map(x, self.made(x, context))
        return z, ld.sum(-1)

    def inverse(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        # Fixed-point sweep: after step i the inputs of the i smallest degrees are exact, and the
        # parameters of the last step only use exact inputs.
        x = torch.zeros_like(z)
        for _ in range(self.made.num_steps):
            x, ld = self.map(z, self.made(x, context), inverse=True)
        return x, ld.sum(-1)
