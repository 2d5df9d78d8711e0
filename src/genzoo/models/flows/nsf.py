"""Neural spline flow ``nsf`` (Durkan, Bekasov, Murray & Papamakarios 2019, arXiv:1906.04032).

A stack of K rational-quadratic spline transforms (``spline.py``): each maps every feature x_d by a
monotonic spline on [-B, B] (identity beyond, "linear tails") whose 3·bins - 1 parameters come from

    autoregressive (default):  θ_d = MADE(x_{<d})     (alternating orders, like zuko's NSF)
    coupling (coupling=true):  θ_B = MLP(x_A)          (alternating halves)

    log p(x) = log N(f(x); 0, I) + Σ_k log|det ∂f_k/∂h_{k-1}|

An optional ActNorm first layer (data-dependent init) standardises the data so it falls inside the
spline bound. Trained by maximum likelihood; sampling inverts each layer (D passes autoregressive,
one pass coupling).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ...registry import register_model
from .actnorm import ActNorm
from .autoregressive import MaskedAutoregressive
from .base import Compose
from .coupling import Coupling
from .elementwise import make_elementwise
from .model import FlowConfig, FlowModel


@dataclass
class NSFConfig(FlowConfig):
    transforms: int = 4
    hidden: tuple[int, ...] = (64, 64)
    bins: int = 8
    bound: float = 5.0
    coupling: bool = False   # coupling (one pass both ways) instead of autoregressive splines
    normalize: bool = True   # ActNorm (data-dependent init) as the first layer


def alternating_order(d: int, i: int) -> torch.Tensor:
    """1..D for even layers, D..1 for odd ones: each feature conditions the others in turn."""
    order = torch.arange(1, d + 1)
    return order if i % 2 == 0 else order.flip(0)


def autoregressive_stack(d: int, transforms: int, hidden, elementwise, normalize: bool) -> Compose:
    """[ActNorm] + K MADE transforms with alternating orders (shared by nsf, maf)."""
    layers = [ActNorm(d)] if normalize else []
    layers += [MaskedAutoregressive(d, elementwise, hidden, order=alternating_order(d, i)) for i in range(transforms)]
    return Compose(*layers)


def coupling_stack(d: int, transforms: int, hidden, elementwise, normalize: bool) -> Compose:
    """[ActNorm] + K couplings whose identity half alternates (shared by nsf, realnvp)."""
    first_half = torch.arange(d) < (d + 1) // 2
    layers = [ActNorm(d)] if normalize else []
    layers += [Coupling(first_half if i % 2 == 0 else ~first_half, elementwise, hidden) for i in range(transforms)]
    return Compose(*layers)


@register_model("nsf")
class NSF(FlowModel):
    config_class = NSFConfig

    @classmethod
    def contract_fixture(cls):
        return NSFConfig(shape=(2,), transforms=2, hidden=(8,), bins=4), torch.randn(16, 2, generator=torch.Generator().manual_seed(0))

    def build_transform(self, shape):
        c = self.config
        spline = make_elementwise("spline", bins=c.bins, bound=c.bound)
        stack = coupling_stack if c.coupling else autoregressive_stack
        return stack(shape[0], c.transforms, c.hidden, spline, c.normalize)
