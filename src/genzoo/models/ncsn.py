"""Noise-conditional score networks (Song & Ermon 2019, "Generative Modeling by Estimating Gradients
of the Data Distribution"; Song & Ermon 2020, "Improved Techniques"), registered as ``ncsn``.

``L`` noise levels ``sigma_1 > ... > sigma_L`` (geometric, ``sigma_begin`` -> ``sigma_end``). One network
scores every level, ``s(x, sigma) = -net(x, t(sigma)) / sigma`` (the 1/sigma output scaling of NCSNv2)
with ``t(sigma) = log(sigma / sigma_end) / log(sigma_begin / sigma_end)`` in [0, 1]. Training is
denoising score matching (Vincent 2011) averaged over the levels with ``lambda(sigma) = sigma^2``::

    L = E_{i ~ U{1..L}, x, z} sigma_i^2 || s(x + sigma_i z, sigma_i) + z / sigma_i ||^2
      = E || net(x + sigma_i z, t_i) - z ||^2

Sampling: annealed Langevin dynamics (``samplers.annealed_langevin``) from ``N(0, sigma_begin^2 I)``.

Likelihood: the levels are a discretisation of the VE SDE ``sigma(t) = sigma_end (sigma_begin /
sigma_end)^t``, ``g(t)^2 = d sigma^2 / dt = 2 sigma(t)^2 log(sigma_begin / sigma_end)`` (Song et al. 2021),
and the network is defined for every ``t``, so ``log_prob`` integrates its probability-flow ODE
``dx/dt = -1/2 g(t)^2 s(x, sigma(t))`` from ``t = 0`` (the data blurred by ``sigma_end``) to ``t = 1``
with prior ``N(0, sigma_begin^2 I)``: an exact density of that ODE model up to solver tolerance (exact
trace for <= 16 dims, Hutchinson above; dequantised for quantised data; see ``continuous.py``). It
scores the network between its training levels too, so it is a proxy for the Langevin sampler's density.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import Tensor

from ..errors import ConfigError
from ..registry import register_model
from ..samplers.annealed_langevin import annealed_langevin, geometric_sigmas
from ..samplers.likelihood_ode import gaussian_log_prob
from ..utils import unpack_batch
from ..nn.batch_noise import batch_randint, batch_randn_like
from .continuous import ContinuousConfig, ContinuousTimeModel


@dataclasses.dataclass
class NCSNConfig(ContinuousConfig):
    sigma_begin: float = 10.0                # about the largest distance between data points
    sigma_end: float = 0.05                  # below half a bin of 17-level images in [-1, 1]
    num_scales: int = 10
    n_steps_each: int = 100                  # Langevin steps per level
    step_lr: float = 5e-4                    # a_i = step_lr sigma_i^2 / sigma_L^2; stable while < 2 sigma_L^2
    denoise: bool = True                     # final Tweedie step


def max_pairwise_distance(x: Tensor, n: int = 1000) -> float:
    """Largest Euclidean distance among the first ``n`` examples (Song & Ermon 2020, technique 1)."""
    flat = x[:n].flatten(1).double()
    return float(torch.cdist(flat, flat).max())


@register_model("ncsn")
class NCSN(ContinuousTimeModel):
    config_class = NCSNConfig
    log_prob_kind = "exact"
    default_budget = {"steps": 3000, "batch_size": 256, "lr": 1e-3}
    #: 2-D: the settings of the ODE-likelihood figure (benchmarks/results/score.md, results/defaults.md)
    kind_defaults = {"2d": {"budget": {"steps": 2500, "batch_size": 256, "lr": 2e-3}}}

    def __init__(self, config: NCSNConfig):
        super().__init__(config)
        c = config
        if not 0 < c.sigma_end < c.sigma_begin:
            raise ConfigError(f"ncsn needs 0 < sigma_end < sigma_begin, got {c.sigma_end}, {c.sigma_begin}")
        if c.num_scales < 2:
            raise ConfigError(f"num_scales={c.num_scales}: ncsn needs at least 2 noise levels")
        self.register_buffer("sigmas", geometric_sigmas(c.sigma_begin, c.sigma_end, c.num_scales), persistent=False)

    @classmethod
    def data_defaults(cls, data) -> dict[str, Any]:
        return {"sigma_begin": round(max(1.0, max_pairwise_distance(data.x)), 1)}

    @classmethod
    def contract_fixture(cls):
        config = NCSNConfig(shape=(2,), hidden=32, depth=2, sigma_begin=3.0, num_scales=4, n_steps_each=3,
                            step_lr=1e-3, ode_rtol=1e-3, ode_atol=1e-3)
        return config, torch.randn(64, 2) * 0.5 + 1.0

    @property
    def log_ratio(self) -> float:
        return math.log(self.config.sigma_begin / self.config.sigma_end)

    def time_of(self, sigma: Tensor) -> Tensor:
        return torch.log(sigma / self.config.sigma_end) / self.log_ratio

    def sigma_of(self, t: Tensor) -> Tensor:
        return self.config.sigma_end * torch.exp(t * self.log_ratio)

    def score(self, x: Tensor, sigma: Tensor) -> Tensor:
        """``s(x, sigma) = -net(x, t(sigma)) / sigma`` for per-example levels ``sigma`` (N,)."""
        return -self.net_out(x, self.time_of(sigma)) / sigma.reshape(-1, *([1] * (x.ndim - 1)))

    def loss(self, batch) -> dict[str, Tensor]:
        x, _ = unpack_batch(batch)
        self.check_input(x)
        idx = batch_randint(0, self.config.num_scales, x.shape[0], device=x.device)
        sigma = self.sigmas.to(x.device)[idx]
        z = batch_randn_like(x)
        noisy = x + sigma.reshape(-1, *([1] * (x.ndim - 1))) * z
        per_level = (self.net_out(noisy, self.time_of(sigma)) - z).pow(2).flatten(1).mean(1)
        return {"loss": per_level.mean()}

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, n_steps_each: int | None = None,
               step_lr: float | None = None, noise: Tensor | None = None, callback=None) -> Tensor:
        c = self.config
        x = self.noise(n, generator, c.sigma_begin) if noise is None else noise
        x = annealed_langevin(self.score, self.sigmas.to(x.device), x, generator=generator, denoise=c.denoise,
                              n_steps_each=c.n_steps_each if n_steps_each is None else n_steps_each,
                              step_lr=c.step_lr if step_lr is None else step_lr, callback=callback)
        return self.finish(x)

    def flow(self):
        g2_scale = 2 * self.log_ratio

        def velocity(x: Tensor, t: Tensor) -> Tensor:
            sigma = self.sigma_of(t)
            g2 = (g2_scale * sigma ** 2).reshape(-1, *([1] * (x.ndim - 1)))
            return -0.5 * g2 * self.score(x, sigma)

        return velocity, 0.0, 1.0, lambda z: gaussian_log_prob(z, self.config.sigma_begin)
