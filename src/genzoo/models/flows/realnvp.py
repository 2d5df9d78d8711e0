"""RealNVP ``realnvp`` (Dinh, Sohl-Dickstein & Bengio 2017, "Density estimation using Real NVP",
arXiv:1605.08803).

Affine coupling layers (``coupling.py``): with a binary mask m,

    z = m ⊙ x + (1 - m) ⊙ (x ⊙ exp(s(m ⊙ x)) + t(m ⊙ x)),   log|det ∂z/∂x| = Σ (1 - m) ⊙ s

- vectors / 2-D: an ActNorm, then K couplings whose identity half alternates; s, t from an MLP.
- images: the multi-scale architecture: per scale 3 checkerboard couplings, squeeze, 3 channel
  couplings, then half of the channels are factored out to the N(0, I) base; the coarsest scale
  has 4 checkerboard couplings. Conditioners are small conv ResNets. ActNorm (data-dependent init)
  replaces the paper's batch normalisation, so the model is batch-statistics free.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ...registry import register_model
from .actnorm import ActNorm
from .coupling import ImageCoupling
from .elementwise import Affine
from .model import CouplingFlowConfig, FlowModel
from .nsf import coupling_stack
from .squeeze import multiscale


@dataclass
class RealNVPConfig(CouplingFlowConfig):
    transforms: int = 8                    # vectors: number of couplings
    blocks: int = 2                        # images: residual blocks per conditioner


@register_model("realnvp")
class RealNVP(FlowModel):
    config_class = RealNVPConfig
    image_transforms = True

    @classmethod
    def contract_fixture(cls):
        return RealNVPConfig(shape=(2,), transforms=2, hidden=(8,)), torch.randn(16, 2, generator=torch.Generator().manual_seed(0))

    def build_transform(self, shape):
        c = self.config
        if len(shape) == 1:
            return coupling_stack(shape[0], c.transforms, c.hidden, Affine(c.scale_clamp), normalize=True)
        affine = Affine(c.scale_clamp)

        def couplings(kind, count, parity0=0):
            return lambda s: [ImageCoupling(s, kind, (parity0 + i) % 2, affine, c.channels, c.blocks) for i in range(count)]

        body = multiscale(shape, c.scales, couplings("checkerboard", 3), couplings("channel", 3), couplings("checkerboard", 4))
        return type(body)(ActNorm(shape[0]), *body.transforms)
