"""DDPM ancestral sampling (Ho et al. 2020, Algorithm 2; with skipped steps as in diffusers).

From ``t`` to the previous grid point ``s`` (``alpha_bar_s = 1`` past the end), with
``alpha_{t|s} = alpha_bar_t / alpha_bar_s`` and ``beta_{t|s} = 1 - alpha_{t|s}``::

    mu = sqrt(alpha_bar_s) beta_{t|s} / (1 - alpha_bar_t) * x0_hat
         + sqrt(alpha_{t|s}) (1 - alpha_bar_s) / (1 - alpha_bar_t) * x_t
    x_s = mu + sigma z,   sigma^2 = (1 - alpha_bar_s) / (1 - alpha_bar_t) beta_{t|s}   ("fixed_small")
                          sigma^2 = beta_{t|s}                                          ("fixed_large")

noise is added whenever ``t > 0``; ``x0_hat`` is optionally clipped to [-r, r].
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError
from ..utils import randn
from .base import DiffusionSampler, StepOutput, check_steps, clip
from .noise_schedule import NoiseSchedule, timestep_grid, to_x0


@dataclasses.dataclass(frozen=True, eq=False)
class DDPMSampler(DiffusionSampler):
    clip_sample: bool = False
    clip_sample_range: float = 1.0
    variance_type: str = "fixed_small"

    @classmethod
    def create(cls, schedule: NoiseSchedule, steps: int | None = None, *, timestep_spacing: str = "leading",
               steps_offset: int = 0, **kw) -> "DDPMSampler":
        steps = steps or schedule.num_train_timesteps
        check_steps(steps, schedule.num_train_timesteps)
        ts = timestep_grid(schedule.num_train_timesteps, steps, timestep_spacing, steps_offset)
        if kw.get("variance_type", "fixed_small") not in ("fixed_small", "fixed_large"):
            raise ConfigError(f"variance_type {kw['variance_type']!r} is not supported; use fixed_small or fixed_large")
        return cls(schedule, torch.from_numpy(np.ascontiguousarray(ts).astype(np.int64)), **kw)

    def prev_timestep(self, i: int) -> int:
        return int(self.timesteps[i + 1]) if i + 1 < len(self.timesteps) else -1

    def step(self, model_output: Tensor, i: int, x: Tensor, state=None, *, generator=None) -> StepOutput:
        t, s = int(self.timesteps[i]), self.prev_timestep(i)
        ab_t, ab_s = self.alpha_bar(t), self.alpha_bar(s)
        alpha_ts = ab_t / ab_s
        beta_ts = 1 - alpha_ts
        x0 = clip(to_x0(model_output, x, ab_t ** 0.5, (1 - ab_t) ** 0.5, self.prediction),
                  self.clip_sample, self.clip_sample_range)
        mean = (ab_s ** 0.5 * beta_ts / (1 - ab_t)) * x0 + (alpha_ts ** 0.5 * (1 - ab_s) / (1 - ab_t)) * x
        if t > 0:
            if self.variance_type == "fixed_small":
                var = torch.clamp((1 - ab_s) / (1 - ab_t) * beta_ts, min=1e-20)
            else:
                var = beta_ts
            z = randn(model_output.shape, generator=generator, device=model_output.device, dtype=model_output.dtype)
            mean = mean + var ** 0.5 * z
        return StepOutput(mean, x0)
