"""Forward SDEs of score-based generative modelling (Song et al. 2021, "Score-Based Generative Modeling
through Stochastic Differential Equations", section 3.4 and appendix B).

Each SDE ``dx = f(x, t) dt + g(t) dW`` on ``t in [0, T=1]`` has a Gaussian transition kernel
``p_0t(x_t | x_0) = N(m(t) x_0, s(t)^2 I)`` (``marginal``) and a simple prior ``p_T``:

- VP (variance preserving, the continuous limit of DDPM), ``beta(t) = b_min + t (b_max - b_min)``::

      f = -1/2 beta(t) x,   g = sqrt(beta(t)),   log m(t) = -1/4 t^2 (b_max - b_min) - 1/2 t b_min,
      s(t)^2 = 1 - m(t)^2,  p_T = N(0, I)

- sub-VP (same drift, smaller diffusion)::

      g = sqrt(beta(t) (1 - exp(-2 int_0^t beta))) = sqrt(beta(t) (1 - m(t)^4)),   s(t) = 1 - m(t)^2

- VE (variance exploding, the continuous limit of NCSN), ``sigma(t) = s_min (s_max / s_min)^t``::

      f = 0,   g = sigma(t) sqrt(2 log(s_max / s_min)),   m = 1,   s(t) = sigma(t),   p_T = N(0, s_max^2 I)

``discretize`` gives the per-step ``(f_i, G_i)`` of the reverse-diffusion predictor (Song et al.,
eq. 46/47: the DDPM ancestral step for VP (exact kernel), the SMLD step for VE; plain Euler–Maruyama otherwise).
The score of the kernel is ``grad log p_0t(x_t | x_0) = -(x_t - m x_0) / s^2 = -z / s``.
"""
from __future__ import annotations

import dataclasses
import math

import torch
from torch import Tensor

from .errors import ConfigError, did_you_mean
from .utils import randn


def _bcast(v: Tensor, x: Tensor) -> Tensor:
    """A per-example (N,) value shaped to multiply an (N, ...) batch."""
    return v.reshape(-1, *([1] * (x.ndim - 1)))


def gaussian_log_prob(z: Tensor, std: float = 1.0) -> Tensor:
    """``log N(z; 0, std^2 I)`` per example."""
    d = z[0].numel()
    return -0.5 * d * math.log(2 * math.pi * std ** 2) - z.flatten(1).pow(2).sum(1) / (2 * std ** 2)


def as_time(t, x: Tensor) -> Tensor:
    """A scalar or (N,) time as an (N,) tensor on ``x``'s device and dtype."""
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
    return t.expand(x.shape[0]) if t.ndim == 0 else t


@dataclasses.dataclass(frozen=True)
class SDE:
    """Base: subclasses define ``beta``-free closed forms; everything else derives from them."""

    T: float = 1.0

    def drift_diffusion(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """``(f(x, t), g(t))``; ``g`` is (N,)."""
        raise NotImplementedError

    def marginal(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """``(m(t), s(t))`` of ``p_0t(x_t | x_0) = N(m x_0, s^2 I)``, each (N,)."""
        raise NotImplementedError

    @property
    def prior_std(self) -> float:
        return 1.0

    @property
    def default_eps(self) -> float:
        """Smallest time used in training and sampling (the kernel is singular at t = 0)."""
        return 1e-5

    def perturb(self, x0: Tensor, t: Tensor, z: Tensor) -> Tensor:
        """``x_t = m(t) x_0 + s(t) z``."""
        m, s = self.marginal(t)
        return _bcast(m, x0) * x0 + _bcast(s, x0) * z

    def prior_sample(self, shape, *, generator: torch.Generator | None = None, device=None, dtype=torch.float32) -> Tensor:
        return self.prior_std * randn(shape, generator=generator, device=device, dtype=dtype)

    def prior_log_prob(self, z: Tensor) -> Tensor:
        """``log N(z; 0, prior_std^2 I)`` per example."""
        return gaussian_log_prob(z, self.prior_std)

    def discretize(self, x: Tensor, t: Tensor, dt: float) -> tuple[Tensor, Tensor]:
        """``(f_i, G_i)`` with ``x_t = x_{t-dt} + f_i + G_i z``: the forward step of size ``dt`` ending at ``t``."""
        f, g = self.drift_diffusion(x, t)
        return f * dt, g * math.sqrt(dt)

    def langevin_alpha(self, t: Tensor, dt: float) -> Tensor:
        """``alpha_i`` of the Langevin corrector's step size (1; ``1 - beta_i`` for VP / sub-VP)."""
        return torch.ones_like(t)

    def reverse_drift(self, x: Tensor, t: Tensor, score: Tensor, *, ode: bool = False) -> Tensor:
        """``f - g^2 score`` (reverse SDE) or ``f - g^2 score / 2`` (probability-flow ODE)."""
        f, g = self.drift_diffusion(x, t)
        return f - _bcast(g ** 2, x) * score * (0.5 if ode else 1.0)


@dataclasses.dataclass(frozen=True)
class VPSDE(SDE):
    beta_min: float = 0.1
    beta_max: float = 20.0

    def beta(self, t: Tensor) -> Tensor:
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def log_mean_coeff(self, t: Tensor) -> Tensor:
        return -0.25 * t ** 2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def drift_diffusion(self, x, t):
        b = self.beta(t)
        return -0.5 * _bcast(b, x) * x, b.sqrt()

    def marginal(self, t):
        lm = self.log_mean_coeff(t)
        return lm.exp(), (-torch.expm1(2 * lm)).sqrt()

    @property
    def default_eps(self) -> float:
        return 1e-3

    def discretize(self, x, t, dt):
        """DDPM step with the exact kernel: ``alpha_i = m(t) / m(t - dt)`` (~ sqrt(1 - beta(t) dt)),
        ``x_t = alpha_i x_{t-dt} + sqrt(1 - alpha_i^2) z``; stable for any ``dt``."""
        a = self.step_alpha(t, dt)
        return (_bcast(a, x) - 1) * x, (1 - a ** 2).sqrt()

    def step_alpha(self, t: Tensor, dt: float) -> Tensor:
        """``m(t) / m(t - dt)``."""
        return (self.log_mean_coeff(t) - self.log_mean_coeff(t - dt)).exp()

    def langevin_alpha(self, t, dt):
        return self.step_alpha(t, dt) ** 2


@dataclasses.dataclass(frozen=True)
class SubVPSDE(VPSDE):
    def drift_diffusion(self, x, t):
        b = self.beta(t)
        return -0.5 * _bcast(b, x) * x, (b * -torch.expm1(4 * self.log_mean_coeff(t))).sqrt()

    def marginal(self, t):
        lm = self.log_mean_coeff(t)
        return lm.exp(), -torch.expm1(2 * lm)

    discretize = SDE.discretize


@dataclasses.dataclass(frozen=True)
class VESDE(SDE):
    sigma_min: float = 0.01
    sigma_max: float = 50.0

    def sigma(self, t: Tensor) -> Tensor:
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** t

    def time_of_sigma(self, sigma: Tensor) -> Tensor:
        """Inverse of ``sigma(t)``."""
        return torch.log(sigma / self.sigma_min) / math.log(self.sigma_max / self.sigma_min)

    def drift_diffusion(self, x, t):
        return torch.zeros_like(x), self.sigma(t) * math.sqrt(2 * math.log(self.sigma_max / self.sigma_min))

    def marginal(self, t):
        return torch.ones_like(t), self.sigma(t)

    @property
    def prior_std(self) -> float:
        return self.sigma_max

    def discretize(self, x, t, dt):
        """SMLD step: ``G_i = sqrt(sigma(t)^2 - sigma(t - dt)^2)``, no drift."""
        return torch.zeros_like(x), (self.sigma(t) ** 2 - self.sigma(t - dt) ** 2).clamp(min=0).sqrt()


SDES = {"vp": VPSDE, "subvp": SubVPSDE, "sub-vp": SubVPSDE, "ve": VESDE}


def make_sde(name: str, *, beta_min: float = 0.1, beta_max: float = 20.0, sigma_min: float = 0.01,
             sigma_max: float = 50.0) -> SDE:
    """``vp`` | ``subvp`` | ``ve`` with their parameters (the others are ignored)."""
    key = name.lower()
    if key not in SDES:
        raise ConfigError(f"unknown sde {name!r}{did_you_mean(name, SDES)}; use vp, subvp or ve")
    if key == "ve":
        if not 0 < sigma_min < sigma_max:
            raise ConfigError(f"ve sde needs 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
        return VESDE(sigma_min=sigma_min, sigma_max=sigma_max)
    if not 0 < beta_min < beta_max:
        raise ConfigError(f"{key} sde needs 0 < beta_min < beta_max, got {beta_min}, {beta_max}")
    return SDES[key](beta_min=beta_min, beta_max=beta_max)
