"""Elementwise bijections y = g(x; θ) used inside coupling and autoregressive transforms.

Each map has ``num_params`` (parameters per transformed feature) and is called as
``map(x, params, inverse=False) -> (y, log|dy/dx|)`` elementwise, ``params`` of shape (*x.shape, P).

- ``Affine``: y = x exp(s) + t with s = c tanh(ŝ / c) (bounded log-scale, Dinh et al. 2017).
- ``RQSpline``: monotonic rational-quadratic spline (Durkan et al. 2019), see ``spline.py``.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Transform
from .spline import rq_spline


class Affine:
    """y = x exp(s) + t, with the log-scale s soft-clamped to (-c, c)."""

    def __init__(self, scale_clamp: float = 3.0):
        self.num_params = 2
        self.clamp = scale_clamp

    def __call__(self, x: Tensor, params: Tensor, inverse: bool = False) -> tuple[Tensor, Tensor]:
        shift, raw = params.unbind(-1)
        s = self.clamp * (raw / self.clamp).tanh()
        if inverse:
            return (x - shift) * (-s).exp(), -s
        return x * s.exp() + shift, s

    def __repr__(self) -> str:
        return f"Affine(scale_clamp={self.clamp})"


class RQSpline:
    """Rational-quadratic spline with ``bins`` bins on [-bound, bound], identity outside."""

    def __init__(self, bins: int = 8, bound: float = 5.0, min_width: float = 1e-3, min_derivative: float = 1e-3):
        self.bins, self.bound = bins, bound
        self.min_width, self.min_derivative = min_width, min_derivative
        self.num_params = 3 * bins - 1

    def __call__(self, x: Tensor, params: Tensor, inverse: bool = False) -> tuple[Tensor, Tensor]:
        return rq_spline(x, params, bound=self.bound, inverse=inverse,
                         min_width=self.min_width, min_derivative=self.min_derivative)

    def __repr__(self) -> str:
        return f"RQSpline(bins={self.bins}, bound={self.bound})"


def make_elementwise(kind: str, bins: int = 8, bound: float = 5.0, scale_clamp: float = 3.0):
    """``"affine"`` or ``"spline"`` -> the elementwise map."""
    if kind == "affine":
        return Affine(scale_clamp)
    if kind == "spline":
        return RQSpline(bins, bound)
    raise ValueError(f"unknown elementwise map {kind!r}; use 'affine' or 'spline'")


class Elementwise(Transform):
    """An unconditional elementwise transform with its own parameters: z_d = g(x_d; θ_d)."""

    def __init__(self, features: int, elementwise, init_std: float = 0.0):
        super().__init__()
        self.map = elementwise
        self.params = nn.Parameter(torch.randn(features, elementwise.num_params) * init_std)

    def forward(self, x: Tensor, context=None):
        z, ld = self.map(x, self.params.expand(*x.shape, -1))
        return z, ld.sum(-1)

    def inverse(self, z: Tensor, context=None):
        x, ld = self.map(z, self.params.expand(*z.shape, -1), inverse=True)
        return x, ld.sum(-1)
