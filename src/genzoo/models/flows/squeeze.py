"""Squeeze and multi-scale splitting for image flows (Dinh et al. 2017, RealNVP §3.6; Glow).

``Squeeze``: (N, C, H, W) -> (N, 4C, H/2, W/2), each 2x2 patch becomes 4 channels; a permutation of
the entries, log|det| = 0.

``MultiScale``: factor out half the channels after a level. In the data -> noise direction,

    (z_out, h) = split(x);   z_rest = inner(h);   z = concat(z_out, z_rest)

so z_out goes straight to the base density (a standard normal) and only h is transformed further,
at a coarser scale. ``inner`` preserves the shape of h, hence the whole flow maps an image to a
latent of the same shape, and sampling simply inverts it.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .base import Transform


class Squeeze(Transform):
    def forward(self, x: Tensor, context=None):
        n, c, h, w = x.shape
        if h % 2 or w % 2:
            raise ValueError(f"Squeeze needs even height and width, got {h}x{w}")
        z = x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(n, c * 4, h // 2, w // 2)
        return z, x.new_zeros(n)

    def inverse(self, z: Tensor, context=None):
        n, c, h, w = z.shape
        x = z.reshape(n, c // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, c // 4, h * 2, w * 2)
        return x, z.new_zeros(n)


class MultiScale(Transform):
    """Keep the first ``keep`` channels as latents, transform the rest with ``inner``."""

    def __init__(self, keep: int, inner: Transform):
        super().__init__()
        self.keep = keep
        self.inner = inner

    def forward(self, x: Tensor, context=None):
        z_rest, ld = self.inner(x[:, self.keep:], context)
        return torch.cat([x[:, : self.keep], z_rest], 1), ld

    def inverse(self, z: Tensor, context=None):
        x_rest, ld = self.inner.inverse(z[:, self.keep:], context)
        return torch.cat([z[:, : self.keep], x_rest], 1), ld



def multiscale(shape, scales: int, pre, post, final) -> Transform:
    """RealNVP's multi-scale architecture, recursively and shape-preserving:

        level(x) = pre(x) -> Squeeze -> post -> MultiScale(keep half, level(rest)) -> Unsqueeze

    with ``final(shape)`` at the coarsest scale. ``pre``/``post``/``final`` map a (C, H, W) shape to
    a list of transforms for that shape.
    """
    from .base import Compose, Invert

    c, h, w = shape
    if scales == 0:
        return Compose(*final(shape))
    if h % 2 or w % 2:
        raise ValueError(f"{scales} more scales need even sizes, got {h}x{w}; lower the number of scales")
    squeezed = (4 * c, h // 2, w // 2)
    inner = multiscale((2 * c, h // 2, w // 2), scales - 1, pre, post, final)
    return Compose(*pre(shape), Squeeze(), *post(squeezed), MultiScale(2 * c, inner), Invert(Squeeze()))
