"""ActNorm (Kingma & Dhariwal 2018, Glow): a per-channel affine map with data-dependent init.

    z = (x - b) ⊙ exp(-s),   log|det ∂z/∂x| = -H W Σ_c s_c

On the first forward pass in training mode b and s are set to the batch mean and log standard
deviation of each channel, so the first layer's outputs have zero mean and unit variance; after
that they are ordinary parameters. Works on (N, C) vectors and (N, C, H, W) images.
A batch-statistics-free replacement for batch normalisation.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Transform


class ActNorm(Transform):
    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(channels))
        self.log_scale = nn.Parameter(torch.zeros(channels))
        self.register_buffer("initialized", torch.tensor(False))
        self.eps = eps

    def _view(self, t: Tensor, x: Tensor) -> Tensor:
        return t.view(1, -1, *([1] * (x.dim() - 2)))

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        flat = x.transpose(0, 1).reshape(x.shape[1], -1)
        self.loc.copy_(flat.mean(1))
        self.log_scale.copy_((flat.std(1) + self.eps).log())
        self.initialized.fill_(True)

    def _logdet(self, x: Tensor) -> Tensor:
        spatial = x[0, 0].numel()
        return (-self.log_scale.sum() * spatial).expand(x.shape[0])

    def forward(self, x: Tensor, context=None):
        if self.training and not bool(self.initialized):
            self.initialize(x)
        z = (x - self._view(self.loc, x)) * self._view((-self.log_scale).exp(), x)
        return z, self._logdet(x)

    def inverse(self, z: Tensor, context=None):
        x = z * self._view(self.log_scale.exp(), z) + self._view(self.loc, z)
        return x, -self._logdet(z)
