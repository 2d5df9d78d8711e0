"""Discrete-time noise schedules of DDPM (Ho et al. 2020) and their conversions.

Forward process, with ``alpha_bar_t = prod_{s<=t} (1 - beta_s)``::

    q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)      x_t = a_t x_0 + s_t eps

with ``a_t = sqrt(alpha_bar_t)``, ``s_t = sqrt(1 - alpha_bar_t)``. The network predicts one of

- ``epsilon``: eps                      -> x_0 = (x_t - s_t eps) / a_t
- ``sample``:  x_0 itself
- ``v_prediction``: v = a_t eps - s_t x_0 (Salimans & Ho 2022) -> x_0 = a_t x_t - s_t v

The Karras / EDM view (Karras et al. 2022) rescales ``x_t`` to ``x_sigma = x_t / a_t = x_0 + sigma eps``
with ``sigma_t = s_t / a_t`` (the samplers in ``karras.py`` integrate in that space).

beta schedules (names and float32 arithmetic follow diffusers so trajectories agree to 1e-6):

- ``linear``: beta_t evenly spaced in [beta_start, beta_end] (DDPM)
- ``scaled_linear``: sqrt(beta) evenly spaced (latent diffusion)
- ``cosine`` / ``squaredcos_cap_v2``: alpha_bar(t) = cos^2((t/T + 0.008)/1.008 * pi/2), beta <= 0.999
  (Nichol & Dhariwal 2021)
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError, did_you_mean

BETA_SCHEDULES = {"linear": "linear", "scaled_linear": "scaled_linear", "cosine": "squaredcos_cap_v2",
                  "squaredcos_cap_v2": "squaredcos_cap_v2"}
PREDICTIONS = {"epsilon": "epsilon", "eps": "epsilon", "sample": "sample", "x0": "sample",
               "v_prediction": "v_prediction", "v": "v_prediction"}
SPACINGS = ("leading", "trailing", "linspace")


def canonical_prediction(name: str) -> str:
    """``eps``/``x0``/``v`` (or the diffusers names) -> ``epsilon``/``sample``/``v_prediction``."""
    if name not in PREDICTIONS:
        raise ConfigError(f"unknown prediction {name!r}{did_you_mean(name, PREDICTIONS)}")
    return PREDICTIONS[name]


def make_betas(schedule: str, num_train_timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> Tensor:
    """The (T,) float32 betas of a named schedule."""
    if schedule not in BETA_SCHEDULES:
        raise ConfigError(f"unknown beta_schedule {schedule!r}{did_you_mean(schedule, BETA_SCHEDULES)}")
    schedule, T = BETA_SCHEDULES[schedule], num_train_timesteps
    if schedule == "linear":
        return torch.linspace(beta_start, beta_end, T, dtype=torch.float32)
    if schedule == "scaled_linear":
        return torch.linspace(beta_start ** 0.5, beta_end ** 0.5, T, dtype=torch.float32) ** 2

    def alpha_bar(t: float) -> float:
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    return torch.tensor([min(1 - alpha_bar((i + 1) / T) / alpha_bar(i / T), 0.999) for i in range(T)], dtype=torch.float32)


@dataclasses.dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """betas and alpha_bar of a T-step forward process (immutable; tensors stay on the CPU)."""

    betas: Tensor
    alphas_cumprod: Tensor

    @classmethod
    def create(cls, beta_schedule: str = "linear", num_train_timesteps: int = 1000, beta_start: float = 1e-4,
               beta_end: float = 0.02) -> "NoiseSchedule":
        betas = make_betas(beta_schedule, num_train_timesteps, beta_start, beta_end)
        return cls(betas, torch.cumprod(1.0 - betas, dim=0))

    @property
    def num_train_timesteps(self) -> int:
        return len(self.betas)

    def alpha_sigma(self, t: Tensor, like: Tensor) -> tuple[Tensor, Tensor]:
        """``(a_t, s_t)`` at integer steps ``t`` (N,), shaped to broadcast against ``like``."""
        ac = self.alphas_cumprod.to(like.device, like.dtype)[t.to(like.device).long()]
        shape = (-1,) + (1,) * (like.ndim - 1)
        return (ac ** 0.5).reshape(shape), ((1 - ac) ** 0.5).reshape(shape)

    def add_noise(self, x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        """``x_t = a_t x_0 + s_t eps``."""
        a, s = self.alpha_sigma(t, x0)
        return a * x0 + s * noise

    def velocity(self, x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        """``v = a_t eps - s_t x_0``."""
        a, s = self.alpha_sigma(t, x0)
        return a * noise - s * x0

    def snr(self, t: Tensor) -> Tensor:
        """``SNR(t) = a_t^2 / s_t^2``."""
        ac = self.alphas_cumprod.to(t.device)[t.long()]
        return ac / (1 - ac)

    def sigmas(self) -> np.ndarray:
        """Karras noise levels ``sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t)`` (float32, as diffusers)."""
        ac = self.alphas_cumprod
        return (((1 - ac) / ac) ** 0.5).numpy()


def to_x0(model_output: Tensor, x_t: Tensor, alpha, sigma, prediction: str) -> Tensor:
    """Predicted ``x_0`` from the network output at ``x_t = alpha x_0 + sigma eps``."""
    if prediction == "epsilon":
        return (x_t - sigma * model_output) / alpha
    if prediction == "sample":
        return model_output
    return alpha * x_t - sigma * model_output


def to_eps(model_output: Tensor, x_t: Tensor, alpha, sigma, prediction: str) -> Tensor:
    """Predicted ``eps`` from the network output at ``x_t = alpha x_0 + sigma eps``."""
    if prediction == "epsilon":
        return model_output
    if prediction == "sample":
        return (x_t - alpha * model_output) / sigma
    return alpha * model_output + sigma * x_t


def timestep_grid(num_train_timesteps: int, steps: int, spacing: str = "leading", steps_offset: int = 0,
                  *, rounded: bool = True) -> np.ndarray:
    """Descending model timesteps for ``steps`` sampling steps (Lin et al. 2023, Table 2).

    ``leading``: ``k * (T // n)`` (+ offset); ``trailing``: ``T - k * T / n - 1``; ``linspace``:
    ``n`` points evenly in [0, T-1]. ``rounded=False`` keeps linspace points fractional (Euler/Heun).
    """
    T = num_train_timesteps
    if spacing not in SPACINGS:
        raise ConfigError(f"unknown timestep_spacing {spacing!r}{did_you_mean(spacing, SPACINGS)}")
    if not 1 <= steps <= T:
        raise ConfigError(f"steps={steps} must be between 1 and the model's {T} training timesteps; pass --steps <= {T}")
    if spacing == "linspace":
        ts = np.linspace(0, T - 1, steps)[::-1]
        return ts.round() if rounded else ts.astype(np.float32).astype(np.float64)
    if spacing == "leading":
        return (np.arange(0, steps) * (T // steps)).round()[::-1] + steps_offset
    return np.round(np.arange(T, 0, -T / steps)) - 1


def karras_sigmas(sigma_min: float, sigma_max: float, steps: int, rho: float = 7.0) -> np.ndarray:
    """``sigma_i = (s_max^(1/rho) + i/(n-1) (s_min^(1/rho) - s_max^(1/rho)))^rho`` (Karras et al. 2022, eq. 5)."""
    ramp = np.linspace(0, 1, steps)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return (hi + ramp * (lo - hi)) ** rho


def sigma_to_t(sigmas: np.ndarray, log_sigmas: np.ndarray) -> np.ndarray:
    """Fractional training timestep whose sigma is ``sigma`` (log-linear interpolation)."""
    log_sigma = np.log(np.maximum(sigmas, 1e-10))
    dists = log_sigma - log_sigmas[:, None]
    low = np.cumsum(dists >= 0, axis=0).argmax(axis=0).clip(max=len(log_sigmas) - 2)
    lo, hi = log_sigmas[low], log_sigmas[low + 1]
    w = np.clip((lo - log_sigma) / (lo - hi), 0, 1)
    return (1 - w) * low + w * (low + 1)
