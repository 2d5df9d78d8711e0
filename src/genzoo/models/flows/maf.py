"""Masked and inverse autoregressive flows: ``maf`` (Papamakarios, Pavlakou & Murray 2017,
arXiv:1705.07057) and ``iaf`` (Kingma et al. 2016, arXiv:1606.04934).

MAF: K affine autoregressive layers with MADE conditioners (Germain et al. 2015), alternating orders,

    z_d = x_d exp(s_d(x_{<d})) + t_d(x_{<d}),   log|det| = Σ_d s_d,
    log p(x) = log N(z; 0, I) + Σ_k Σ_d s_{k,d}

density in one pass per layer, sampling in D passes. IAF is the inverse of the same layers:

    x_d = z_d exp(s_d(z_{<d})) + t_d(z_{<d})

sampling in one pass, density in D passes (here: ``log_prob`` inverts each layer sequentially, so
it is exact but D times slower — fine for 2-D and small data; IAF shines as a VAE posterior).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ...registry import register_model
from .actnorm import ActNorm
from .autoregressive import MaskedAutoregressive
from .base import Compose, Invert
from .elementwise import Affine
from .model import FlowConfig, FlowModel
from .nsf import alternating_order, autoregressive_stack


@dataclass
class MAFConfig(FlowConfig):
    transforms: int = 4
    hidden: tuple[int, ...] = (64, 64)
    scale_clamp: float = 3.0  # log-scales are soft-clamped to (-c, c)
    normalize: bool = True    # ActNorm (data-dependent init) as the first layer


@register_model("maf")
class MAF(FlowModel):
    config_class = MAFConfig

    @classmethod
    def contract_fixture(cls):
        return MAFConfig(shape=(2,), transforms=2, hidden=(8,)), torch.randn(16, 2, generator=torch.Generator().manual_seed(0))

    def build_transform(self, shape):
        c = self.config
        return autoregressive_stack(shape[0], c.transforms, c.hidden, Affine(c.scale_clamp), c.normalize)


@register_model("iaf")
class IAF(MAF):
    """The inverse of MAF's layers (same config). Density is sequential in D: meant for small D."""

    data_kinds = ("2d", "tabular")

    def build_transform(self, shape):
        c, d = self.config, shape[0]
        layers = [ActNorm(d)] if c.normalize else []
        layers += [Invert(MaskedAutoregressive(d, Affine(c.scale_clamp), c.hidden, order=alternating_order(d, i)))
                   for i in range(c.transforms)]
        return Compose(*layers)
