"""What every diffusion sampler shares: a fixed list of model timesteps and a pure ``step``.

A sampler is an immutable dataclass built once per (schedule, number of steps). Sampling is::

    x = sampler.init_noise_sigma * randn(shape)
    state = None
    for i in range(len(sampler)):
        out = model(sampler.model_input(x, i), sampler.timesteps[i])
        x, x0, state = sampler.step(out, i, x, state, generator=g)

``step`` receives everything it needs as arguments (the position ``i`` in the schedule, the current
sample, the previous multistep state) and returns the next sample and the new state, so one sampler
object can serve many threads or interleaved trajectories (unlike diffusers' hidden step index).
"""
from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..errors import ConfigError
from .noise_schedule import NoiseSchedule, canonical_prediction


class StepOutput(NamedTuple):
    prev_sample: Tensor
    pred_original_sample: Tensor
    state: Any = None


@dataclasses.dataclass(frozen=True, eq=False)
class DiffusionSampler:
    """Base: ``timesteps`` (one per ``step`` call, descending) on a DDPM ``schedule``."""

    schedule: NoiseSchedule
    timesteps: Tensor
    prediction: str = "epsilon"

    def __post_init__(self):
        object.__setattr__(self, "prediction", canonical_prediction(self.prediction))

    def __len__(self) -> int:
        return len(self.timesteps)

    @property
    def init_noise_sigma(self) -> float:
        """Standard deviation of the starting noise."""
        return 1.0

    def model_input(self, x: Tensor, i: int) -> Tensor:
        """The network's input at step ``i`` (identity except in the Karras/sigma parameterisation)."""
        return x

    def step(self, model_output: Tensor, i: int, x: Tensor, state: Any = None, *,
             generator: torch.Generator | None = None) -> StepOutput:
        raise NotImplementedError

    def alpha_bar(self, t: int) -> Tensor:
        """``alpha_bar_t`` for integer step ``t``; ``t < 0`` means the clean end, ``alpha_bar = 1``."""
        return self.schedule.alphas_cumprod[t] if t >= 0 else torch.tensor(1.0)


def check_steps(steps: int, num_train_timesteps: int) -> None:
    if not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"steps must be a positive integer, got {steps!r}")
    if steps > num_train_timesteps:
        raise ConfigError(f"steps={steps} exceeds the model's {num_train_timesteps} training timesteps; pass steps <= {num_train_timesteps}")


def clip(x0: Tensor, clip_sample: bool, clip_range: float) -> Tensor:
    return x0.clamp(-clip_range, clip_range) if clip_sample else x0
