"""Glow ``glow`` (Kingma & Dhariwal 2018, "Glow: Generative Flow with Invertible 1x1 Convolutions",
arXiv:1807.03039).

One step of flow = ActNorm -> invertible 1x1 convolution (LU) -> affine coupling:

    z = (x - b) exp(-s)                    log|det| = -H W Σ s
    z = W x (per pixel),  W = P L (U + diag(sign · exp(log_s)))   log|det| = H W Σ log_s
    z_B = x_B exp(s(x_A)) + t(x_A)         log|det| = Σ s          (channel halves)

Multi-scale: L levels of [squeeze -> K steps -> factor out half the channels], the last level
without the split; factored-out halves go to the N(0, I) base. On vectors (2-D data) a step is
ActNorm -> invertible linear map -> MLP affine coupling. ``sample(temperature=T)`` scales the base
noise (T < 1 gives cleaner samples, as in the paper).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ...registry import register_model
from .actnorm import ActNorm
from .base import Compose, Invert
from .conv1x1 import InvertibleConv1x1
from .coupling import Coupling, ImageCoupling
from .elementwise import Affine
from .model import CouplingFlowConfig, FlowModel
from .squeeze import Squeeze, multiscale


@dataclass
class GlowConfig(CouplingFlowConfig):
    steps: int = 4                         # K steps of flow per level (vectors: in total)


@register_model("glow")
class Glow(FlowModel):
    config_class = GlowConfig
    image_transforms = True
    #: 2-D: 8 steps of flow (the 8gaussians quality figure, benchmarks/results/flows.md)
    kind_defaults = {"2d": {"config": {"steps": 8}}}

    @classmethod
    def contract_fixture(cls):
        cfg = GlowConfig(shape=(1, 4, 4), steps=1, channels=8, blocks=1)
        return cfg, torch.randn(8, 1, 4, 4, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)

    def build_transform(self, shape):
        c = self.config
        affine = Affine(c.scale_clamp)
        if len(shape) == 1:
            d = shape[0]
            half = torch.arange(d) < (d + 1) // 2
            layers = []
            for i in range(c.steps):
                layers += [ActNorm(d), InvertibleConv1x1(d, seed=i), Coupling(half, affine, c.hidden)]
            return Compose(*layers)

        def steps(s):
            layers = []
            for i in range(c.steps):
                layers += [ActNorm(s[0]), InvertibleConv1x1(s[0], seed=i), ImageCoupling(s, "channel", 0, affine, c.channels, c.blocks)]
            return layers

        def last(s):
            squeezed = (4 * s[0], s[1] // 2, s[2] // 2)
            return [Squeeze(), *steps(squeezed), Invert(Squeeze())]

        return multiscale(shape, c.scales - 1, lambda s: [], steps, last)
