"""Euler and Heun samplers of the probability-flow ODE in the sigma parameterisation
(Karras et al. 2022, "Elucidating the design space", Algorithms 1-2, with their sigma spacing).

The state is ``x = x_0 + sigma eps`` (= ``x_t / a_t``); the network sees ``x / sqrt(sigma^2 + 1)`` and
timestep ``t(sigma)``. With ``d(x, sigma) = (x - x0_hat(x, sigma)) / sigma``::

    Euler:  x_next = x + (sigma_next - sigma) d(x, sigma)
    Heun:   x_pred = x + (sigma_next - sigma) d(x, sigma)
            x_next = x + (sigma_next - sigma) (d(x, sigma) + d(x_pred, sigma_next)) / 2
            (the last step, to sigma = 0, is an Euler step: 2n - 1 network calls for n steps)

Karras spacing: ``sigma_i = (s_max^(1/7) + i/(n-1) (s_min^(1/7) - s_max^(1/7)))^7``.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import Tensor

from .base import DiffusionSampler, StepOutput, check_steps, clip
from .noise_schedule import NoiseSchedule, karras_sigmas, sigma_to_t, timestep_grid


@dataclasses.dataclass(frozen=True, eq=False)
class EulerSampler(DiffusionSampler):
    sigmas: Tensor = None            # one more than timesteps; the last one 0
    start_sigma: float = 1.0         # std of the initial noise
    clip_sample: bool = False
    clip_sample_range: float = 1.0

    @classmethod
    def grid(cls, schedule: NoiseSchedule, steps: int, timestep_spacing: str, steps_offset: int,
             use_karras_sigmas: bool) -> tuple[np.ndarray, np.ndarray, float]:
        """``(timesteps, sigmas without the final 0, initial noise std)`` as in diffusers."""
        T = schedule.num_train_timesteps
        check_steps(steps, T)
        ts = timestep_grid(T, steps, timestep_spacing, steps_offset, rounded=False)
        all_sigmas = schedule.sigmas()
        sig = np.interp(ts, np.arange(T), all_sigmas)
        if use_karras_sigmas:
            sig = karras_sigmas(sig[-1], sig[0], steps)
            ts = sigma_to_t(sig, np.log(all_sigmas))
        sig32 = sig.astype(np.float32)
        start = float(sig32.max()) if timestep_spacing in ("linspace", "trailing") else float((sig32.max() ** 2 + 1) ** 0.5)
        return ts.astype(np.float32), sig32, start

    @classmethod
    def create(cls, schedule: NoiseSchedule, steps: int, *, timestep_spacing: str = "linspace", steps_offset: int = 0,
               use_karras_sigmas: bool = True, **kw) -> "EulerSampler":
        ts, sig, start = cls.grid(schedule, steps, timestep_spacing, steps_offset, use_karras_sigmas)
        sigmas = torch.from_numpy(np.concatenate([sig, np.zeros(1, np.float32)]))
        return cls(schedule, torch.from_numpy(ts), sigmas=sigmas, start_sigma=start, **kw)

    @property
    def init_noise_sigma(self) -> float:
        return self.start_sigma

    def model_input(self, x: Tensor, i: int) -> Tensor:
        return x / ((self.sigmas[i] ** 2 + 1) ** 0.5)

    def x0(self, model_output: Tensor, x: Tensor, sigma: Tensor) -> Tensor:
        """Predicted x_0 at ``x = x_0 + sigma eps``."""
        if self.prediction == "epsilon":
            x0 = x - sigma * model_output
        elif self.prediction == "sample":
            x0 = model_output
        else:
            x0 = model_output * (-sigma / (sigma ** 2 + 1) ** 0.5) + x / (sigma ** 2 + 1)
        return clip(x0, self.clip_sample, self.clip_sample_range)

    def step(self, model_output: Tensor, i: int, x: Tensor, state=None, *, generator=None) -> StepOutput:
        sigma = self.sigmas[i]
        x0 = self.x0(model_output, x, sigma)
        return StepOutput(x + (x - x0) / sigma * (self.sigmas[i + 1] - sigma), x0)


@dataclasses.dataclass(frozen=True, eq=False)
class HeunSampler(EulerSampler):
    """Timesteps/sigmas hold every interior point twice: call ``i`` is a predictor step when
    ``state is None`` and a corrector step otherwise (``state = (d, dt, x)`` of the predictor)."""

    @classmethod
    def create(cls, schedule: NoiseSchedule, steps: int, *, timestep_spacing: str = "linspace", steps_offset: int = 0,
               use_karras_sigmas: bool = True, **kw) -> "HeunSampler":
        ts, sig, start = cls.grid(schedule, steps, timestep_spacing, steps_offset, use_karras_sigmas)
        sig = torch.from_numpy(np.concatenate([sig, np.zeros(1, np.float32)]))
        sigmas = torch.cat([sig[:1], sig[1:-1].repeat_interleave(2), sig[-1:]])
        ts = torch.from_numpy(ts)
        timesteps = torch.cat([ts[:1], ts[1:].repeat_interleave(2)])
        return cls(schedule, timesteps, sigmas=sigmas, start_sigma=start, **kw)

    def step(self, model_output: Tensor, i: int, x: Tensor, state=None, *, generator=None) -> StepOutput:
        if state is None:  # predictor (Euler) from sigmas[i] to sigmas[i + 1]
            sigma, sigma_next = self.sigmas[i], self.sigmas[i + 1]
            x0 = self.x0(model_output, x, sigma)
            d, dt = (x - x0) / sigma, sigma_next - sigma
            return StepOutput(x + d * dt, x0, (d, dt, x))
        d_prev, dt, x_start = state  # corrector at sigmas[i] == the predictor's target
        sigma_next = self.sigmas[i]
        x0 = self.x0(model_output, x, sigma_next)
        d = ((x - x0) / sigma_next + d_prev) / 2
        return StepOutput(x_start + d * dt, x0, None)
