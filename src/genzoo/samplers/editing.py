"""Image editing with a trained diffusion model and any genzoo sampler.

- SDEdit (Meng et al. 2022): noise the input to an intermediate level ``strength`` (fraction of the
  sampling steps), then run the rest of the sampler: ``x_{t_k} = a x_in + s eps``, k = n (1 - strength).
- Inpainting, RePaint (Lugmayr et al. 2022): after each step the known pixels (``mask = 1``) are
  overwritten with the input noised to the new level, ``x <- m * noised(x_in, next level) + (1 - m) * x``;
  the final known pixels equal the input. With resampling (``jump_n_sample = r > 1``, DDPM ancestral
  sampler only; Algorithm 1 with the jump schedule of the paper's appendix / diffusers'
  ``RePaintScheduler``), the walk over the steps goes back up ``jump_length = j`` levels after every
  j-th step, ``r - 1`` times per point, re-noising with the forward transitions
  ``q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I)`` (one per training step between two
  grid levels), so the unknown region is denoised again in harmony with the known one. In a
  denoising step one noise draw ``z`` serves both parts (they are disjoint pixels), as in diffusers.
- DDIM inversion (Song et al. 2021; Mokady et al. 2023): run the deterministic DDIM update upwards,
  ``x_t = a_t x0_hat(x_s, t) + s_t eps_hat(x_s, t)`` with the network evaluated at the target step,
  so that DDIM sampling from the result reconstructs the input; interpolating such latents
  interpolates images.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..errors import ConfigError
from ..utils import randn
from .base import DiffusionSampler
from .ddim import DDIMSampler
from .ddpm import DDPMSampler
from .denoise import run
from .dpm_solver import DPMSolverSampler
from .karras import EulerSampler, HeunSampler
from .noise_schedule import to_eps

Fn = Callable[[Tensor, Tensor], Tensor]


def noised(sampler: DiffusionSampler, x0: Tensor, noise: Tensor, i: int) -> Tensor:
    """``x0`` at the noise level of step ``i`` (``i = len(sampler)``: clean), in the sampler's own space."""
    if i >= len(sampler):
        return x0
    if isinstance(sampler, EulerSampler):  # sigma space: x = x0 + sigma eps
        return x0 + sampler.sigmas[i] * noise
    if isinstance(sampler, DPMSolverSampler):
        sigma = sampler.sigmas[i]
        alpha = 1 / (sigma ** 2 + 1) ** 0.5
        return alpha * x0 + sigma * alpha * noise
    return sampler.schedule.add_noise(x0, noise, sampler.timesteps[i].long().expand(x0.shape[0]))


def sdedit(fn: Fn, sampler: DiffusionSampler, image: Tensor, strength: float, *, generator=None) -> Tensor:
    """Image-to-image: noise ``image`` to ``strength`` in (0, 1] and denoise."""
    if not 0 < strength <= 1:
        raise ConfigError(f"strength={strength} must be in (0, 1]")
    n = len(sampler)
    start = min(n - 1, int(round(n * (1 - strength))))
    if isinstance(sampler, HeunSampler):
        start -= start % 2  # begin on a predictor call
    noise = randn(image.shape, generator=generator, device=image.device)
    return run(fn, sampler, noised(sampler, image, noise, start), start, generator=generator)


def inpaint(fn: Fn, sampler: DiffusionSampler, image: Tensor, mask: Tensor, *, generator=None,
            jump_length: int = 1, jump_n_sample: int = 1) -> Tensor:
    """Fill the pixels where ``mask == 0``; keep those where ``mask == 1``.

    ``jump_length`` (j) and ``jump_n_sample`` (r): RePaint resampling (DDPM sampler only); the
    defaults 1 / 1 replace the known pixels without resampling, with any sampler.
    """
    check_jumps(sampler, jump_length, jump_n_sample)
    mask = mask.to(image.dtype).expand_as(image)
    x = randn(image.shape, generator=generator, device=image.device, dtype=image.dtype) * sampler.init_noise_sigma
    if jump_n_sample > 1:
        return repaint(fn, sampler, x, image, mask, jump_length, jump_n_sample, generator=generator)

    def keep_known(i: int, x: Tensor) -> Tensor:
        if isinstance(sampler, HeunSampler) and i + 1 < len(sampler) and i % 2 == 0:
            return x  # mid-Heun: the corrector still needs the predictor's point
        noise = randn(image.shape, generator=generator, device=image.device)
        return mask * noised(sampler, image, noise, i + 1) + (1 - mask) * x

    return run(fn, sampler, x, 0, generator=generator, callback=keep_known)


def check_jumps(sampler: DiffusionSampler, jump_length, jump_n_sample) -> None:
    for name, v in (("jump_length", jump_length), ("jump_n_sample", jump_n_sample)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"{name}={v!r} must be an integer >= 1 (1 / 1 = no RePaint resampling)")
    if jump_n_sample > 1 and type(sampler) is not DDPMSampler:  # DDIMSampler subclasses it
        raise ConfigError(f"RePaint resampling (jump_n_sample={jump_n_sample}) runs on the DDPM ancestral sampler; "
                          f"pass sampler='ddpm' or jump_n_sample=1 (got {type(sampler).__name__})")
    if jump_n_sample > 1 and jump_length >= len(sampler):
        raise ConfigError(f"jump_length={jump_length} must be smaller than the number of steps ({len(sampler)}); "
                          "use a shorter jump or more steps")


def repaint_walk(num_steps: int, jump_length: int, jump_n_sample: int) -> list[int]:
    """RePaint's time walk in step units (``num_steps - 1`` = noisiest): an entry below the previous
    one is a denoising step at that time, an entry above it one re-noising step up (the diffusers
    ``RePaintScheduler.timesteps`` divided by ``num_train_timesteps // num_steps``)."""
    jumps = {t: jump_n_sample - 1 for t in range(0, num_steps - jump_length, jump_length)}
    walk, t = [], num_steps
    while t >= 1:
        t -= 1
        walk.append(t)
        if jumps.get(t, 0) > 0:
            jumps[t] -= 1
            for _ in range(jump_length):
                t += 1
                walk.append(t)
    return walk


def renoise(sampler: DDPMSampler, x: Tensor, i: int, *, generator=None) -> Tensor:
    """From the level after step ``i`` up to step ``i``'s level: the forward transitions
    ``x <- sqrt(1 - beta_u) x + sqrt(beta_u) z`` for the training steps u in (prev_timestep(i), t_i]."""
    for u in range(sampler.prev_timestep(i) + 1, int(sampler.timesteps[i]) + 1):
        beta = sampler.schedule.betas[u]
        x = (1 - beta) ** 0.5 * x + beta ** 0.5 * randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x


def replay(generator: torch.Generator | None) -> torch.Generator:
    """A generator in ``generator``'s current state (the global CPU one for None): it draws the same
    next numbers, so the sampler's step noise can be drawn once more for the known pixels."""
    twin = torch.Generator(generator.device if generator is not None else "cpu")
    return twin.set_state(generator.get_state() if generator is not None else torch.get_rng_state())


def repaint(fn: Fn, sampler: DDPMSampler, x: Tensor, image: Tensor, mask: Tensor, jump_length: int,
            jump_n_sample: int, *, generator=None) -> Tensor:
    """RePaint Algorithm 1 from the starting noise ``x`` (see the module docstring)."""
    n = len(sampler)
    walk = repaint_walk(n, jump_length, jump_n_sample)
    last = walk[0] + 1
    for t in walk:
        if t < last:  # denoise step i = n - 1 - t; its noise z also noises the known pixels
            i = n - 1 - t
            step_generator = replay(generator)
            z = randn(image.shape, generator=generator, device=image.device, dtype=image.dtype)
            unknown = sampler.step(fn(x, sampler.timesteps[i]), i, x, generator=step_generator).prev_sample
            x = mask * noised(sampler, image, z, i + 1) + (1 - mask) * unknown
        else:  # one level back up: from after step n - t to step n - t's level
            x = renoise(sampler, x, n - t, generator=generator)
        last = t
    return x


def ddim_invert(fn: Fn, sampler: DDIMSampler, x0: Tensor) -> Tensor:
    """The DDIM latent ``x_T`` whose deterministic DDIM trajectory ends at ``x0``."""
    if not isinstance(sampler, DDIMSampler) or sampler.eta != 0:
        raise ConfigError("DDIM inversion needs a deterministic DDIM sampler (sampler='ddim', eta=0)")
    x = x0
    for i in reversed(range(len(sampler))):
        t, s = int(sampler.timesteps[i]), sampler.prev_timestep(i)
        ab_t, ab_s = sampler.alpha_bar(t), sampler.alpha_bar(s)
        eps = to_eps(fn(x, sampler.timesteps[i]), x, ab_t ** 0.5, (1 - ab_t) ** 0.5, sampler.prediction)
        x0_hat = (x - (1 - ab_s) ** 0.5 * eps) / ab_s ** 0.5
        x = ab_t ** 0.5 * x0_hat + (1 - ab_t) ** 0.5 * eps
    return x
