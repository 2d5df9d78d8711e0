"""Sampler names, construction and the denoising loop shared by models and pipelines.

``build_sampler("dpm++2m", schedule, steps=20)`` returns an immutable sampler; ``denoise(fn, sampler,
noise)`` runs it, calling ``fn(model_input, t)`` once per step (Heun: 2 steps - 1 calls).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..errors import ConfigError, did_you_mean
from .base import DiffusionSampler
from .ddim import DDIMSampler
from .ddpm import DDPMSampler
from .dpm_solver import DPMSolverSampler
from .karras import EulerSampler, HeunSampler
from .noise_schedule import NoiseSchedule

SAMPLERS: dict[str, type[DiffusionSampler]] = {
    "ddpm": DDPMSampler, "ddim": DDIMSampler, "dpm++2m": DPMSolverSampler, "euler": EulerSampler, "heun": HeunSampler,
}
ALIASES = {"dpm-solver++": "dpm++2m", "dpmsolver++": "dpm++2m", "dpm++": "dpm++2m", "dpm_solver": "dpm++2m",
           "euler-karras": "euler", "heun-karras": "heun"}


def canonical_sampler(name: str) -> str:
    name = ALIASES.get(name, name)
    if name not in SAMPLERS:
        raise ConfigError(f"unknown sampler {name!r}{did_you_mean(name, list(SAMPLERS) + list(ALIASES))}")
    return name


def build_sampler(name: str, schedule: NoiseSchedule, steps: int | None = None, *, prediction: str = "epsilon",
                  timestep_spacing: str | None = None, steps_offset: int = 0, eta: float = 0.0,
                  clip_sample: bool = False, clip_sample_range: float = 1.0, use_karras_sigmas: bool | None = None,
                  variance_type: str = "fixed_small", use_clipped_model_output: bool = False) -> DiffusionSampler:
    """A sampler by name; ``steps=None`` means every training step for ``ddpm`` and 50 otherwise."""
    name = canonical_sampler(name)
    steps = steps if steps is not None else (schedule.num_train_timesteps if name == "ddpm" else 50)
    common = dict(prediction=prediction, steps_offset=steps_offset)
    if name in ("ddpm", "ddim"):
        extra = dict(eta=eta, use_clipped_model_output=use_clipped_model_output) if name == "ddim" else {}
        return SAMPLERS[name].create(schedule, steps, timestep_spacing=timestep_spacing or "leading", clip_sample=clip_sample,
                                     clip_sample_range=clip_sample_range, variance_type=variance_type, **extra, **common)
    if name == "dpm++2m":
        return DPMSolverSampler.create(schedule, steps, timestep_spacing=timestep_spacing or "linspace",
                                       use_karras_sigmas=bool(use_karras_sigmas), clip_sample=clip_sample,
                                       clip_sample_range=clip_sample_range, **common)
    extra = dict(clip_sample=clip_sample, clip_sample_range=clip_sample_range) if name == "heun" else {}
    return SAMPLERS[name].create(schedule, steps, timestep_spacing=timestep_spacing or "linspace",
                                 use_karras_sigmas=True if use_karras_sigmas is None else use_karras_sigmas, **extra, **common)


def run(fn: Callable[[Tensor, Tensor], Tensor], sampler: DiffusionSampler, x: Tensor, start: int = 0, *,
        generator: torch.Generator | None = None, callback: Callable | None = None) -> Tensor:
    """The sampling loop from step ``start``, ``x`` already at that step's noise level.

    ``callback(i, x)`` runs after every step; when it returns a tensor, that replaces ``x``
    (inpainting uses this to re-impose the known pixels).
    """
    state = None
    for i in range(start, len(sampler)):
        t = sampler.timesteps[i]
        x, _, state = sampler.step(fn(sampler.model_input(x, i), t), i, x, state, generator=generator)
        if callback is not None:
            replaced = callback(i, x)
            x = x if replaced is None else replaced
    return x


def denoise(fn: Callable[[Tensor, Tensor], Tensor], sampler: DiffusionSampler, noise: Tensor, *,
            generator: torch.Generator | None = None, callback: Callable | None = None) -> Tensor:
    """Run ``sampler`` from standard-normal ``noise``; ``fn(x_in, t)`` is the network (with guidance)."""
    return run(fn, sampler, noise * sampler.init_noise_sigma, 0, generator=generator, callback=callback)
