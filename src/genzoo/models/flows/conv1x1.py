"""Invertible 1x1 convolution in LU form (Kingma & Dhariwal 2018, Glow).

A learned channel mixing z[:, :, i, j] = W x[:, :, i, j] with W = P L (U + diag(sign ⊙ exp(log_s))):
P a fixed permutation, L unit lower-triangular, U strictly upper-triangular. Then

    log|det ∂z/∂x| = H W Σ_c log_s_c       (O(C) instead of O(C³)).

Initialised from a random rotation (QR of a seeded Gaussian matrix). Also works on (N, C) vectors
(a learned invertible linear layer, a generalised permutation for 2-D flows).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Transform


class InvertibleConv1x1(Transform):
    def __init__(self, channels: int, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(channels, channels, generator=g))
        p, l, u = torch.linalg.lu(q)
        s = torch.diagonal(u)
        self.register_buffer("p", p)
        self.register_buffer("sign_s", s.sign())
        self.lower = nn.Parameter(torch.tril(l, -1))
        self.upper = nn.Parameter(torch.triu(u, 1))
        self.log_s = nn.Parameter(s.abs().log())

    def weight(self) -> Tensor:
        eye = torch.eye(self.lower.shape[0], dtype=self.lower.dtype, device=self.lower.device)
        lower = torch.tril(self.lower, -1) + eye
        upper = torch.triu(self.upper, 1) + torch.diag(self.sign_s * self.log_s.exp())
        return self.p @ lower @ upper

    def _mix(self, x: Tensor, w: Tensor) -> Tensor:
        if x.dim() == 2:
            return x @ w.T
        return torch.einsum("dc,nchw->ndhw", w, x)

    def _logdet(self, x: Tensor) -> Tensor:
        spatial = x[0, 0].numel()
        return (self.log_s.sum() * spatial).expand(x.shape[0])

    def forward(self, x: Tensor, context=None):
        return self._mix(x, self.weight()), self._logdet(x)

    def inverse(self, z: Tensor, context=None):
        return self._mix(z, torch.linalg.inv(self.weight())), -self._logdet(z)
