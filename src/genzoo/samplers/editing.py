"""Image editing with a trained diffusion model and any genzoo sampler.

- SDEdit (Meng et al. 2022): noise the input to an intermediate level ``strength`` (fraction of the
  sampling steps), then run the rest of the sampler: ``x_{t_k} = a x_in + s eps``, k = n (1 - strength).
- Inpainting, RePaint-style replacement (Lugmayr et al. 2022) without resampling jumps: after each
  step the known pixels (``mask = 1``) are overwritten with the input noised to the new level,
  ``x <- m * noised(x_in, next level) + (1 - m) * x``; the final known pixels equal the input.
- DDIM inversion (Song et al. 2021; Mokady et al. 2023): run the deterministic DDIM update upwards,
  ``x_t = a_t x0_hat(x_s, t) + s_t eps_hat(x_s, t)`` with the network evaluated at the target step,
  so that DDIM sampling from the result reconstructs the input; interpolating such latents
  interpolates images.
"""
from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from ..errors import ConfigError
from ..utils import randn
from .base import DiffusionSampler
from .ddim import DDIMSampler
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


def inpaint(fn: Fn, sampler: DiffusionSampler, image: Tensor, mask: Tensor, *, generator=None) -> Tensor:
    """Fill the pixels where ``mask == 0``; keep those where ``mask == 1``."""
    mask = mask.to(image.dtype).expand_as(image)

    def keep_known(i: int, x: Tensor) -> Tensor:
        if isinstance(sampler, HeunSampler) and i + 1 < len(sampler) and i % 2 == 0:
            return x  # mid-Heun: the corrector still needs the predictor's point
        noise = randn(image.shape, generator=generator, device=image.device)
        return mask * noised(sampler, image, noise, i + 1) + (1 - mask) * x

    x = randn(image.shape, generator=generator, device=image.device) * sampler.init_noise_sigma
    return run(fn, sampler, x, 0, generator=generator, callback=keep_known)


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
