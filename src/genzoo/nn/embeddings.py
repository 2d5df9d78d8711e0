"""Sinusoidal timestep embedding (Vaswani et al. 2017; used by DDPM, Ho et al. 2020).

For frequencies ``w_k = exp(-log(max_period) * k / (half - shift))``, ``k = 0..half-1``::

    emb(t) = [cos(t w), sin(t w)]      (flip_sin_to_cos=True, the diffusers UNet2DModel default)
    emb(t) = [sin(t w), cos(t w)]      otherwise

``t`` may be an integer step (0..T-1) or a float (continuous time, Karras sampler timesteps).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def timestep_embedding(t: Tensor, dim: int, *, flip_sin_to_cos: bool = True, freq_shift: float = 0.0,
                       max_period: float = 10000.0, scale: float = 1.0) -> Tensor:
    """``(N,) -> (N, dim)`` sinusoidal features of ``t`` (float32)."""
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / (half - freq_shift)
    args = scale * t[:, None].float() * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.cos(args), torch.sin(args)] if flip_sin_to_cos else [torch.sin(args), torch.cos(args)], dim=-1)
    if dim % 2:
        emb = nn.functional.pad(emb, (0, 1))
    return emb


class TimestepEmbedding(nn.Module):
    """Sinusoidal features followed by ``Linear -> SiLU -> Linear`` (names match diffusers)."""

    def __init__(self, in_dim: int, out_dim: int, *, flip_sin_to_cos: bool = True, freq_shift: float = 0.0):
        super().__init__()
        self.in_dim, self.flip_sin_to_cos, self.freq_shift = in_dim, flip_sin_to_cos, freq_shift
        self.linear_1 = nn.Linear(in_dim, out_dim)
        self.linear_2 = nn.Linear(out_dim, out_dim)

    def forward(self, t: Tensor) -> Tensor:
        emb = timestep_embedding(t, self.in_dim, flip_sin_to_cos=self.flip_sin_to_cos, freq_shift=self.freq_shift)
        emb = emb.to(self.linear_1.weight.dtype)
        return self.linear_2(nn.functional.silu(self.linear_1(emb)))


def broadcast_timesteps(t, batch: int, device) -> Tensor:
    """A scalar / 0-d / (N,) timestep as an (N,) tensor on ``device``."""
    t = torch.as_tensor(t, device=device)
    if t.ndim == 0:
        t = t.expand(batch)
    return t
