"""DPM-Solver++(2M): multistep second-order solver of the diffusion ODE in data prediction
(Lu et al. 2022, "DPM-Solver++", Algorithm 2).

With ``alpha_t = 1/sqrt(1 + sigma_t^2)``, ``s_t = sigma_t alpha_t`` (``sigma`` the Karras noise level),
``lambda_t = log(alpha_t / s_t)`` and ``h = lambda_next - lambda_t``::

    first order (DDIM):   x_next = (s_next / s_t) x - alpha_next (e^{-h} - 1) D0
    second order:         D1 = (D0 - D_prev) / r,  r = (lambda_t - lambda_prev) / h
                          x_next = (s_next / s_t) x - alpha_next (e^{-h} - 1) (D0 + D1 / 2)

where ``D0`` is the current predicted x0 (optionally clipped to [-1, 1], a static version of the
paper's thresholding) and ``D_prev`` the previous one (the multistep state). The first step and the
final step (to sigma = 0) are first order, as in diffusers' defaults.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import Tensor

from .base import DiffusionSampler, StepOutput, check_steps, clip
from .noise_schedule import NoiseSchedule, karras_sigmas, sigma_to_t, timestep_grid, to_x0


@dataclasses.dataclass(frozen=True, eq=False)
class DPMSolverSampler(DiffusionSampler):
    sigmas: Tensor = None  # len(timesteps) + 1 noise levels, the last one 0
    clip_sample: bool = False  # clip x0 predictions to [-r, r] (genzoo option; diffusers has none)
    clip_sample_range: float = 1.0

    @classmethod
    def create(cls, schedule: NoiseSchedule, steps: int, *, timestep_spacing: str = "linspace",
               steps_offset: int = 0, use_karras_sigmas: bool = False, **kw) -> "DPMSolverSampler":
        T = schedule.num_train_timesteps
        check_steps(steps, T)
        if timestep_spacing == "trailing":
            ts = timestep_grid(T, steps, "trailing")
        else:  # n + 1 grid points, the last (t = 0) dropped
            ts = timestep_grid(T, steps + 1, timestep_spacing, steps_offset)[:-1]
        all_sigmas = schedule.sigmas()
        if use_karras_sigmas:
            sig = karras_sigmas(all_sigmas[0], all_sigmas[-1], steps)
            ts = sigma_to_t(sig, np.log(all_sigmas)).round()
        else:
            sig = np.interp(ts, np.arange(T), all_sigmas)
        sigmas = torch.from_numpy(np.concatenate([sig, [0.0]]).astype(np.float32))
        return cls(schedule, torch.from_numpy(np.ascontiguousarray(ts).astype(np.int64)), sigmas=sigmas, **kw)

    def _alpha_sigma(self, j: int) -> tuple[Tensor, Tensor]:
        sigma = self.sigmas[j]
        alpha = 1 / (sigma ** 2 + 1) ** 0.5
        return alpha, sigma * alpha

    def step(self, model_output: Tensor, i: int, x: Tensor, state: Tensor | None = None, *,
             generator=None) -> StepOutput:
        """``state`` is the previous step's x0 prediction (None at the start)."""
        alpha_s, sigma_s = self._alpha_sigma(i)
        x0 = clip(to_x0(model_output, x, alpha_s, sigma_s, self.prediction), self.clip_sample, self.clip_sample_range)
        if self.sigmas[i + 1] == 0:  # last step: x_next = x0 (the h -> inf limit of the first-order update)
            return StepOutput(x0.clone(), x0, x0)
        alpha_t, sigma_t = self._alpha_sigma(i + 1)
        lam_t, lam_s = torch.log(alpha_t) - torch.log(sigma_t), torch.log(alpha_s) - torch.log(sigma_s)
        h = lam_t - lam_s
        d = x0
        if state is not None and i > 0:
            alpha_p, sigma_p = self._alpha_sigma(i - 1)
            r = (lam_s - (torch.log(alpha_p) - torch.log(sigma_p))) / h
            d = x0 + 0.5 * (1.0 / r) * (x0 - state)
        prev = (sigma_t / sigma_s) * x - (alpha_t * (torch.exp(-h) - 1.0)) * d
        return StepOutput(prev, x0, x0)
