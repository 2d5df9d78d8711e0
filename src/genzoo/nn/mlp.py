"""Multilayer perceptrons, plain and time-conditioned (the denoiser / velocity field for 2-D data).

``TimeMLP``: ``h = W_in x``; each residual block ``h += W_2 SiLU(W_1 SiLU(h) + P emb)``;
``out = W_out SiLU(h)``, with ``emb = SiLU(MLP(sinusoidal(time_scale * t))) (+ class embedding)``.
Works for any vector data (N, D); ``time_scale`` maps continuous t in [0, 1] to the embedding's range.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .embeddings import TimestepEmbedding, broadcast_timesteps


class MLP(nn.Sequential):
    """``Linear -> act -> ... -> Linear`` with ``depth`` hidden layers of width ``hidden``."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 128, depth: int = 2, act: type[nn.Module] = nn.SiLU):
        layers, d = [], in_dim
        for _ in range(depth):
            layers += [nn.Linear(d, hidden), act()]
            d = hidden
        super().__init__(*layers, nn.Linear(d, out_dim))


class TimeBlock(nn.Module):
    def __init__(self, hidden: int, emb_dim: int):
        super().__init__()
        self.linear_1 = nn.Linear(hidden, hidden)
        self.emb_proj = nn.Linear(emb_dim, hidden)
        self.linear_2 = nn.Linear(hidden, hidden)

    def forward(self, h: Tensor, emb: Tensor) -> Tensor:
        return h + self.linear_2(F.silu(self.linear_1(F.silu(h)) + self.emb_proj(emb)))


class TimeMLP(nn.Module):
    """``forward(x (N, D), t (N,) or scalar, class_labels (N,) | None) -> (N, out_dim)``."""

    def __init__(self, dim: int, out_dim: int | None = None, hidden: int = 256, depth: int = 4,
                 num_class_embeds: int | None = None, time_scale: float = 1.0):
        super().__init__()
        self.time_scale = time_scale
        emb_dim = hidden
        self.time_embedding = TimestepEmbedding(min(hidden, 128), emb_dim)
        self.class_embedding = nn.Embedding(num_class_embeds, emb_dim) if num_class_embeds else None
        self.proj_in = nn.Linear(dim, hidden)
        self.blocks = nn.ModuleList(TimeBlock(hidden, emb_dim) for _ in range(depth))
        self.proj_out = nn.Linear(hidden, out_dim or dim)

    def forward(self, x: Tensor, t, class_labels: Tensor | None = None) -> Tensor:
        t = broadcast_timesteps(t, x.shape[0], x.device)
        emb = self.time_embedding(t * self.time_scale)
        if self.class_embedding is not None and class_labels is not None:
            emb = emb + self.class_embedding(class_labels)
        emb = F.silu(emb)
        h = self.proj_in(x)
        for block in self.blocks:
            h = block(h, emb)
        return self.proj_out(F.silu(h))
