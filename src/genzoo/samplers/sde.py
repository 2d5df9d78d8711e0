"""Forward SDEs of score-based models and their reverse-time samplers (Song et al. 2021).

``dx = f(x, t) dt + g(t) dw`` on t in [0, 1], with Gaussian marginals ``x_t | x_0 ~ N(m(t) x_0, s(t)^2 I)``:

- VP (continuous DDPM): ``f = -beta(t) x / 2``, ``g = sqrt(beta(t))``, ``beta(t) = b0 + t (b1 - b0)``;
  ``m = exp(-t^2 (b1 - b0)/4 - t b0/2)``, ``s^2 = 1 - m^2``.
- sub-VP: same drift, ``g^2 = beta(t) (1 - m(t)^4)``; ``s^2 = (1 - m^2)^2``.
- VE (NCSN++): ``f = 0``, ``sigma(t) = sigma_min (sigma_max/sigma_min)^t``,
  ``g = sigma(t) sqrt(2 log(sigma_max/sigma_min))``; ``m = 1``, ``s^2 = sigma(t)^2 - sigma_min^2``
  (the prior ignores ``sigma_min``: N(0, sigma_max^2 I)).

Reverse SDE ``dx = [f - g^2 score] dt + g dw_bar`` (Anderson 1982) and probability-flow ODE
``dx/dt = f - g^2 score / 2``. Samplers: Euler-Maruyama on the reverse SDE, and predictor-corrector
(Song et al. 2021, Algorithms 4-5): before each predictor step, Langevin corrections
``x <- x + e score + sqrt(2 e) z`` with ``e = 2 alpha (r ||z|| / ||score||)^2`` set by the
signal-to-noise ratio ``r`` (``alpha = 1 - beta(t)/N`` for VP, 1 for VE).
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch
from torch import Tensor

from ..errors import ConfigError, did_you_mean
from ..utils import randn

ScoreFn = Callable[[Tensor, Tensor], Tensor]


@dataclasses.dataclass(frozen=True)
class SDE:
    kind: str = "vp"                 # vp | subvp | ve
    beta_min: float = 0.1
    beta_max: float = 20.0
    sigma_min: float = 0.01
    sigma_max: float = 50.0

    def __post_init__(self):
        if self.kind not in ("vp", "subvp", "ve"):
            raise ConfigError(f"unknown sde {self.kind!r}{did_you_mean(self.kind, ('vp', 'subvp', 've'))}")

    def beta(self, t: Tensor) -> Tensor:
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def sigma(self, t: Tensor) -> Tensor:
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** t

    def marginal(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """``(m(t), s(t))`` of ``x_t | x_0 ~ N(m x_0, s^2 I)``."""
        if self.kind == "ve":
            return torch.ones_like(t), (self.sigma(t) ** 2 - self.sigma_min ** 2).clamp(min=0).sqrt()
        m = torch.exp(-0.25 * t ** 2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min)
        return m, (1 - m ** 2) if self.kind == "subvp" else (1 - m ** 2).sqrt()

    def drift_diffusion(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """``(f(x, t), g(t))`` with ``t`` a 0-d tensor."""
        if self.kind == "ve":
            return torch.zeros_like(x), self.sigma(t) * math.sqrt(2 * math.log(self.sigma_max / self.sigma_min))
        beta = self.beta(t)
        g2 = beta if self.kind == "vp" else beta * (1 - self.marginal(t)[0] ** 4)
        return -0.5 * beta * x, g2.sqrt()

    @property
    def prior_std(self) -> float:
        return self.sigma_max if self.kind == "ve" else 1.0

    def ode_drift(self, score: ScoreFn) -> Callable[[Tensor, Tensor], Tensor]:
        """The probability-flow velocity ``(x, t) -> f - g^2 score / 2``."""
        def v(x: Tensor, t: Tensor) -> Tensor:
            f, g = self.drift_diffusion(x, t)
            return f - 0.5 * g ** 2 * score(x, t)
        return v


def reverse_sde_sample(score: ScoreFn, sde: SDE, shape, steps: int = 500, *, eps: float = 1e-3,
                       corrector_steps: int = 0, snr: float = 0.16, generator: torch.Generator | None = None,
                       device=None) -> Tensor:
    """Euler-Maruyama on the reverse SDE from t = 1 to ``eps``, with ``corrector_steps`` Langevin
    corrections per step (predictor-corrector when > 0); returns the denoised mean at the end."""
    x = randn(shape, generator=generator, device=device) * sde.prior_std
    ts = torch.linspace(1.0, eps, steps, device=x.device)
    dt = (eps - 1.0) / (steps - 1) if steps > 1 else eps - 1.0
    for i, t in enumerate(ts):
        for _ in range(corrector_steps):
            s = score(x, t)
            z = randn(x.shape, generator=generator, device=x.device)
            alpha = 1.0 if sde.kind == "ve" else float(1 - sde.beta(t) / steps)
            step = 2 * alpha * (snr * z.flatten(1).norm(dim=1).mean() / s.flatten(1).norm(dim=1).mean()) ** 2
            x = x + step * s + (2 * step).sqrt() * z
        f, g = sde.drift_diffusion(x, t)
        mean = x + (f - g ** 2 * score(x, t)) * dt  # dt < 0: backwards in time
        x = mean + g * math.sqrt(-dt) * randn(x.shape, generator=generator, device=x.device) if i < steps - 1 else mean
    return x
