"""DDIM sampling (Song, Meng & Ermon 2021, eq. 12), deterministic at ``eta = 0``.

From ``t`` to the previous grid point ``s`` (``alpha_bar_s = 1`` past the end)::

    sigma_t = eta * sqrt((1 - alpha_bar_s) / (1 - alpha_bar_t) * (1 - alpha_bar_t / alpha_bar_s))
    x_s = sqrt(alpha_bar_s) x0_hat + sqrt(1 - alpha_bar_s - sigma_t^2) eps_hat + sigma_t z

``eta = 1`` gives DDPM's posterior variance. ``x0_hat`` is optionally clipped; ``eps_hat`` is then
recomputed from the clipped ``x0_hat`` only with ``use_clipped_model_output`` (diffusers' default is
not to, which mixes a clipped x0 with an unclipped direction; genzoo's image models turn it on).
"""
from __future__ import annotations

import dataclasses

from torch import Tensor

from ..utils import randn
from .base import StepOutput, clip
from .ddpm import DDPMSampler
from .noise_schedule import to_eps, to_x0


@dataclasses.dataclass(frozen=True, eq=False)
class DDIMSampler(DDPMSampler):
    eta: float = 0.0
    use_clipped_model_output: bool = False  # recompute eps_hat from the clipped x0_hat (diffusers' step option)

    def step(self, model_output: Tensor, i: int, x: Tensor, state=None, *, generator=None) -> StepOutput:
        t, s = int(self.timesteps[i]), self.prev_timestep(i)
        ab_t, ab_s = self.alpha_bar(t), self.alpha_bar(s)
        a_t, s_t = ab_t ** 0.5, (1 - ab_t) ** 0.5
        x0 = to_x0(model_output, x, a_t, s_t, self.prediction)
        eps = to_eps(model_output, x, a_t, s_t, self.prediction)
        x0 = clip(x0, self.clip_sample, self.clip_sample_range)
        if self.use_clipped_model_output:
            eps = (x - a_t * x0) / s_t
        std = self.eta * ((1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s)) ** 0.5
        prev = ab_s ** 0.5 * x0 + (1 - ab_s - std ** 2) ** 0.5 * eps
        if self.eta > 0:
            prev = prev + std * randn(model_output.shape, generator=generator, device=model_output.device,
                                      dtype=model_output.dtype)
        return StepOutput(prev, x0)
