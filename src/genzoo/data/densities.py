"""Exact 2-D densities of the toy sets whose true NLL is known: Gaussian mixtures and the checkerboard.

Each density has ``sample(n, generator=)``, ``log_prob(x)`` (exact, nats), ``entropy`` (the true
differential entropy h = -E[log p(x)], nats), ``modes`` (K, 2) and ``mode_std``.

Isotropic Gaussian mixture p(x) = sum_k w_k N(x; mu_k, s^2 I). Its entropy splits exactly as

    h = H(w) + log(2 pi e s^2) - E_{k ~ w, x ~ N_k}[ log(1 + sum_{j != k} w_j N_j(x) / (w_k N_k(x))) ]

(the first two terms are the entropy if the components did not overlap; the last is the overlap
correction, >= 0). The correction is integrated numerically around each mean (trapezoid rule,
accurate to ~1e-10): 0.00637 nats for ``8gaussians``, 0 (< e^-400) for ``25gaussians``.

Checkerboard: uniform on the 8 unit squares (i, j) of [-2, 2]^2 with floor(x1) + floor(x2) even
(FFJORD's pattern, Grathwohl et al. 2019, before its factor-2 zoom), so p = 1/8 there and
h = log 8 exactly.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ..utils import rand, randn

class GaussianMixture2D:
    """Equal-weight isotropic Gaussian mixture in 2-D."""

    def __init__(self, means: Tensor, std: float):
        self.modes = means.double()
        self.mode_std = float(std)
        self.entropy = self._entropy()

    @property
    def n_components(self) -> int:
        return len(self.modes)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        k = torch.randint(0, self.n_components, (n,), generator=generator)
        return (self.modes[k] + self.mode_std * randn((n, 2), generator=generator, dtype=torch.float64)).float()

    def component_log_probs(self, x: Tensor) -> Tensor:
        """(N, K): log w_k + log N(x; mu_k, s^2 I)."""
        d2 = (x.double()[:, None, :] - self.modes[None]).pow(2).sum(-1)
        return -0.5 * d2 / self.mode_std**2 - math.log(2 * math.pi * self.mode_std**2 * self.n_components)

    def log_prob(self, x: Tensor) -> Tensor:
        return torch.logsumexp(self.component_log_probs(x), dim=1).to(x.dtype)

    def _entropy(self) -> float:
        return math.log(self.n_components) + math.log(2 * math.pi * math.e * self.mode_std**2) - self._overlap()

    def _overlap(self) -> float:
        """E_k E_{x~N_k} log(1 + sum_{j!=k} N_j(x)/N_k(x)) by the trapezoid rule on mu_k + [-10s, 10s]^2
        with step s/8 (exponentially accurate for these smooth integrands: steps s/4 .. s/32 agree to
        1e-17; the mass outside the square is < e^-50).
        Components further than 40 s apart contribute less than e^-400 and are skipped."""
        s = self.mode_std
        t = torch.arange(-80, 81, dtype=torch.float64) * (s / 8)
        offsets = torch.cartesian_prod(t, t)
        o2 = offsets.pow(2).sum(1)
        weights = torch.exp(-0.5 * o2 / s**2) * (s / 8) ** 2 / (2 * math.pi * s**2)
        total = 0.0
        for k in range(self.n_components):
            diff = self.modes[k] - self.modes  # |x - mu_j|^2 = |o|^2 + |diff_j|^2 + 2 o.diff_j, x = mu_k + o
            diff = diff[diff.norm(dim=1) < 40 * s]
            if len(diff) == 1:
                continue
            d2 = o2[:, None] + diff.pow(2).sum(1)[None] + 2 * offsets @ diff.T
            log_ratio = torch.logsumexp(-0.5 * d2 / s**2, 1) + 0.5 * o2 / s**2
            total += (weights * log_ratio).sum().item()
        return total / self.n_components


class Checkerboard2D:
    """Uniform on the 8 'black' unit squares of a 4x4 board on [-2, 2]^2."""

    def __init__(self):
        cells = [(i, j) for i in range(-2, 2) for j in range(-2, 2) if (i + j) % 2 == 0]
        self.cells = torch.tensor(cells, dtype=torch.float64)  # lower-left corners
        self.modes = self.cells + 0.5
        self.mode_std = 1 / math.sqrt(12)  # per-coordinate std of U(0, 1)
        self.entropy = math.log(len(cells))

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        k = torch.randint(0, len(self.cells), (n,), generator=generator)
        return (self.cells[k] + rand((n, 2), generator=generator, dtype=torch.float64)).float()

    def log_prob(self, x: Tensor) -> Tensor:
        x64 = x.double()
        f = torch.floor(x64)
        inside = ((x64 >= -2) & (x64 < 2)).all(1) & ((f[:, 0] + f[:, 1]) % 2 == 0)
        out = torch.full(inside.shape, -math.inf, dtype=torch.float64)
        return out.masked_fill(inside, -self.entropy).to(x.dtype)


def eight_gaussians() -> GaussianMixture2D:
    """FFJORD's '8gaussians': centres at radius 4 every 45 degrees, x = (c + 0.5 eps) / 1.414."""
    a = torch.arange(8, dtype=torch.float64) * (math.pi / 4)
    return GaussianMixture2D(4 * torch.stack([a.cos(), a.sin()], 1) / 1.414, 0.5 / 1.414)


def twenty_five_gaussians() -> GaussianMixture2D:
    """A 5x5 grid of means {-4,-2,0,2,4}^2 with std 0.05 (as in e.g. Tanaka 2019, DOT)."""
    g = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0], dtype=torch.float64)
    return GaussianMixture2D(torch.cartesian_prod(g, g), 0.05)
