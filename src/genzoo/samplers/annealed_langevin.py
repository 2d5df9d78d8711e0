"""Annealed Langevin dynamics (Song & Ermon 2019, "Generative Modeling by Estimating Gradients of the
Data Distribution", Algorithm 1), the sampler of noise-conditional score networks (``ncsn``).

For noise levels ``sigma_1 > ... > sigma_L`` and a base step ``e``::

    a_i = e * sigma_i^2 / sigma_L^2
    repeat n times:   x <- x + a_i / 2 * s(x, sigma_i) + sqrt(a_i) z,   z ~ N(0, I)

followed (``denoise=True``) by one Tweedie denoising step ``x <- x + sigma_L^2 s(x, sigma_L)``
(Jolicoeur-Martineau et al. 2021; Song & Ermon 2020, "Improved techniques", section 3.3), which removes
the last level's noise. Stateless; every draw uses ``generator``.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..utils import randn

ScoreFn = Callable[[Tensor, Tensor], Tensor]


def geometric_sigmas(sigma_begin: float, sigma_end: float, num_scales: int) -> Tensor:
    """``num_scales`` noise levels from ``sigma_begin`` down to ``sigma_end``, evenly spaced in log."""
    return torch.logspace(torch.log10(torch.tensor(sigma_begin)), torch.log10(torch.tensor(sigma_end)), num_scales,
                          dtype=torch.float64).float()


@torch.no_grad()
def annealed_langevin(score_fn: ScoreFn, sigmas: Tensor, x: Tensor, *, n_steps_each: int = 100,
                      step_lr: float = 2e-5, generator: torch.Generator | None = None, denoise: bool = True,
                      callback: Callable | None = None) -> Tensor:
    """Run Algorithm 1 from ``x``; ``score_fn(x, sigma)`` gets the level as an (N,) tensor."""
    sigma_last = float(sigmas[-1])
    for i, sigma in enumerate(sigmas.tolist()):
        level = torch.full((x.shape[0],), sigma, dtype=x.dtype, device=x.device)
        a = step_lr * (sigma / sigma_last) ** 2
        for _ in range(n_steps_each):
            z = randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x = x + 0.5 * a * score_fn(x, level) + a ** 0.5 * z
        if callback is not None:
            callback(i, sigma, x)
    if denoise:
        level = torch.full((x.shape[0],), sigma_last, dtype=x.dtype, device=x.device)
        x = x + sigma_last ** 2 * score_fn(x, level)
    return x
