"""Coupling transforms (Dinh et al. 2015 NICE, 2017 RealNVP; Durkan et al. 2019 spline couplings).

Split x by a binary mask m into an identity part x_A (m = 1) and a transformed part x_B (m = 0):

    z_A = x_A,    z_B = g(x_B; θ(x_A)),    log|det ∂z/∂x| = Σ_B log|g'(x_B; θ)|

The Jacobian is block-triangular; inversion is one pass: x_B = g^{-1}(z_B; θ(z_A)). ``g`` is any
elementwise map (affine = RealNVP, rational-quadratic spline = NSF coupling).

- ``Coupling`` acts on vectors (N, D) with an MLP conditioner (+ optional context).
- ``ImageCoupling`` acts on (N, C, H, W) with a checkerboard or channel mask and a conv conditioner
  that sees x ⊙ m and the mask itself.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .base import Transform, sum_except_batch
from .nets import conv_net, mlp


class Coupling(Transform):
    """Vector coupling: features where ``mask`` is True condition the others."""

    def __init__(self, mask: Sequence[bool] | Tensor, elementwise, hidden: Sequence[int] = (64, 64),
                 context_features: int = 0, activation: type[nn.Module] = nn.ReLU):
        super().__init__()
        mask = torch.as_tensor(mask, dtype=torch.bool)
        if mask.all() or not mask.any():
            raise ValueError("a coupling mask needs both identity (True) and transformed (False) features")
        self.register_buffer("idx_a", mask.nonzero().squeeze(1), persistent=False)
        self.register_buffer("idx_b", (~mask).nonzero().squeeze(1), persistent=False)
        self.map = elementwise
        self.net = mlp(len(self.idx_a) + context_features, len(self.idx_b) * elementwise.num_params, hidden, activation)

    def _params(self, xa: Tensor, context: Tensor | None) -> Tensor:
        h = xa if context is None else torch.cat([xa, context], -1)
        return self.net(h).unflatten(-1, (len(self.idx_b), self.map.num_params))

    def _couple(self, x: Tensor, context, inverse: bool) -> tuple[Tensor, Tensor]:
        xa, xb = x[:, self.idx_a], x[:, self.idx_b]
        yb, ld = self.map(xb, self._params(xa, context), inverse)
        y = torch.empty_like(x)
        y[:, self.idx_a] = xa
        y[:, self.idx_b] = yb
        return y, ld.sum(-1)

    def forward(self, x, context=None):
        return self._couple(x, context, inverse=False)

    def inverse(self, z, context=None):
        return self._couple(z, context, inverse=True)


def image_mask(kind: str, channels: int, height: int, width: int, parity: int) -> Tensor:
    """(1, C, H, W) float mask: ``checkerboard`` ((i + j + parity) even) or ``channel`` (first half)."""
    if kind == "checkerboard":
        ij = torch.arange(height)[:, None] + torch.arange(width)[None, :]
        m = ((ij + parity) % 2 == 0).float().expand(channels, height, width)
    elif kind == "channel":
        if channels < 2:
            raise ValueError("a channel mask needs at least 2 channels; squeeze first")
        m = (torch.arange(channels) < channels // 2).float()
        m = (m if parity == 0 else 1 - m)[:, None, None].expand(channels, height, width)
    else:
        raise ValueError(f"unknown mask kind {kind!r}; use 'checkerboard' or 'channel'")
    return m[None].contiguous()


class ImageCoupling(Transform):
    """Image coupling with a fixed mask; the conv net sees x ⊙ m and m, outputs θ for every pixel."""

    def __init__(self, shape: Sequence[int], kind: str, parity: int, elementwise, hidden: int = 64, blocks: int = 2):
        super().__init__()
        c, h, w = shape
        self.register_buffer("mask", image_mask(kind, c, h, w, parity), persistent=False)
        self.map = elementwise
        self.net = conv_net(c + 1, c * elementwise.num_params, hidden, blocks)

    def _couple(self, x: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        m = self.mask
        xa = x * m
        params = self.net(torch.cat([xa, m[:, :1].expand(len(x), 1, *x.shape[2:])], 1))
        n, c, h, w = x.shape
        params = params.reshape(n, c, self.map.num_params, h, w).movedim(2, -1)
        y, ld = self.map(x, params, inverse)
        return xa + (1 - m) * y, sum_except_batch((1 - m) * ld)

    def forward(self, x, context=None):
        return self._couple(x, False)

    def inverse(self, z, context=None):
        return self._couple(z, True)
