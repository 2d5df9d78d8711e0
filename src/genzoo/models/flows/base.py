"""Transforms and flows: the change-of-variables formula, composed like zuko.

A ``Transform`` is an invertible map from data towards noise with a tractable Jacobian:

    forward(x) -> (z, log|det ∂z/∂x|)        inverse(z) -> (x, log|det ∂x/∂z|)

both log-determinants per example, shape (N,). A ``Flow`` pairs a transform with a standard normal
base density p_Z, so that (Rezende & Mohamed 2015; Papamakarios et al. 2021, "Normalizing Flows for
Probabilistic Modeling and Inference")

    log p(x) = log p_Z(f(x)) + log|det ∂f/∂x|,     x = f^{-1}(z),  z ~ N(0, I).

Transforms may take a ``context`` tensor (a conditioning vector); transforms that ignore it accept
it anyway so that any of them can be composed.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ...utils import randn

LOG_2PI = math.log(2 * math.pi)


def sum_except_batch(t: Tensor) -> Tensor:
    """Sum every dimension but the first: per-element log-dets -> per-example log-dets."""
    return t.reshape(t.shape[0], -1).sum(1)


class Transform(nn.Module):
    """Base class: an invertible map with ``forward``/``inverse`` returning ``(output, logdet)``."""

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def inverse(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        raise NotImplementedError


class Compose(Transform):
    """``t_K ∘ ... ∘ t_1``: forward applies the transforms in order and adds their log-dets."""

    def __init__(self, *transforms: Transform):
        super().__init__()
        self.transforms = nn.ModuleList(transforms)

    def forward(self, x, context=None):
        lds = []
        for t in self.transforms:
            x, ld = t(x, context)
            lds.append(ld)
        return x, _total(lds, x)

    def inverse(self, z, context=None):
        lds = []
        for t in reversed(self.transforms):
            z, ld = t.inverse(z, context)
            lds.append(ld)
        return z, _total(lds, z)


def _total(lds: list[Tensor], x: Tensor) -> Tensor:
    """Sum of per-example log-dets in two ops (one stack, one sum) rather than K - 1 additions."""
    return torch.stack(lds).sum(0) if lds else x.new_zeros(x.shape[0])


class Invert(Transform):
    """Swap ``forward`` and ``inverse`` (e.g. IAF = inverted MAF)."""

    def __init__(self, transform: Transform):
        super().__init__()
        self.transform = transform

    def forward(self, x, context=None):
        return self.transform.inverse(x, context)

    def inverse(self, z, context=None):
        return self.transform(z, context)


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """log N(z; 0, I) summed per example."""
    return -0.5 * (sum_except_batch(z * z) + z[0].numel() * LOG_2PI)


class Flow(nn.Module):
    """A transform from data to a standard normal: ``log_prob(x)``, ``sample(n, generator=)``."""

    def __init__(self, transform: Transform, shape: tuple[int, ...]):
        super().__init__()
        self.transform = transform
        self.shape = tuple(shape)

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        z, logdet = self.transform(x, context)
        return standard_normal_log_prob(z) + logdet

    def sample(self, n: int, context: Tensor | None = None, *, generator: torch.Generator | None = None,
               temperature: float = 1.0) -> Tensor:
        p = next(self.parameters(), None)
        device, dtype = (p.device, p.dtype) if p is not None else (None, torch.float32)
        z = randn((n, *self.shape), generator=generator, device=device, dtype=dtype) * temperature
        return self.transform.inverse(z, context)[0]

    def sample_and_log_prob(self, n: int, context: Tensor | None = None, *, generator=None) -> tuple[Tensor, Tensor]:
        p = next(self.parameters())
        z = randn((n, *self.shape), generator=generator, device=p.device, dtype=p.dtype)
        x, logdet = self.transform.inverse(z, context)
        return x, standard_normal_log_prob(z) - logdet
