"""Flow matching / rectified flow (Lipman et al. 2023; Liu, Gong & Liu 2023), registered ``flow-matching``.

A straight path between data ``x_0`` and noise ``eps ~ N(0, I)``, ``t ~ U(0, 1)``::

    x_t = (1 - t) x_0 + t eps,        dx_t/dt = eps - x_0
    L = E || v(x_t, t) - (eps - x_0) ||^2        (conditional flow matching)

The minimiser is the marginal velocity ``v(x, t) = E[eps - x_0 | x_t = x]``, whose ODE
``dx/dt = v(x, t)`` carries N(0, I) at t = 1 to the data at t = 0. Sampling integrates it backwards
with Euler, Heun (2 evaluations per step) or adaptive Dormand-Prince (``sampler="dopri5"``).

Likelihood (instantaneous change of variables, Chen et al. 2018)::

    log p_0(x) = log N(x_1; 0, I) + int_0^1 div v(x_t, t) dt,   x_t solving the ODE from x_0 = x

computed with dopri5 on the augmented state and the exact divergence (D backward passes;
``genzoo.samplers.likelihood_ode``), so ``log_prob`` is exact up to the ODE tolerance.

The networks, class conditioning, label dropout and classifier-free guidance are the ``ddpm``
ones (U-Net for images, TimeMLP for vectors; the network sees ``1000 t``); the DDPM noise-schedule
fields of the config are unused here.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError, did_you_mean
from ..registry import register_model
from ..samplers.ode import odeint
from ..samplers.likelihood_ode import gaussian_log_prob, ode_log_prob
from ..utils import model_device, randn, unpack_batch
from ..nn.batch_noise import batch_rand, batch_randn_like
from .diffusion import DDPM, DDPMConfig

FM_SAMPLERS = ("euler", "heun", "dopri5")
TIME_SCALE = 1000.0


@dataclasses.dataclass
class FlowMatchingConfig(DDPMConfig):
    sampler: str = "heun"                 # euler | heun | dopri5
    sample_steps: int = 20
    ode_rtol: float = 1e-5
    ode_atol: float = 1e-5


@register_model("flow-matching")
class FlowMatching(DDPM):
    config_class = FlowMatchingConfig
    log_prob_kind = "exact"
    default_budget = {"steps": 3000, "batch_size": 128, "lr": 1e-3}
    #: 2-D: the settings of the ODE-likelihood figure (benchmarks/results/score.md, results/defaults.md)
    kind_defaults = {"2d": {"budget": {"steps": 2500, "batch_size": 256, "lr": 2e-3}}}

    def __init__(self, config: FlowMatchingConfig):
        check_sampler(config.sampler)
        super().__init__(dataclasses.replace(config, sampler="euler"))
        self.config = config

    @classmethod
    def contract_fixture(cls):
        config = FlowMatchingConfig(shape=(2,), hidden=32, depth=2, sample_steps=4, ode_rtol=1e-3, ode_atol=1e-3)
        return config, torch.randn(64, 2) * 0.5 + 1.0

    def velocity(self, x: Tensor, t, class_labels: Tensor | None = None) -> Tensor:
        return self.net(x, torch.as_tensor(t, device=x.device) * TIME_SCALE, class_labels)

    def loss(self, batch) -> dict[str, Tensor]:
        x0, y = unpack_batch(batch)
        self.check_input(x0)
        n = x0.shape[0]
        t = batch_rand(n, device=x0.device)
        noise = batch_randn_like(x0)
        tb = t.reshape(-1, *([1] * (x0.ndim - 1)))
        xt = (1 - tb) * x0 + tb * noise
        out = self.velocity(xt, t, self.training_labels(y, n, x0.device))
        loss = F.mse_loss(out.float(), (noise - x0).float())
        return {"loss": loss}

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, steps: int | None = None,
               sampler: str | None = None, guidance_scale: float | None = None, class_labels=None,
               noise: Tensor | None = None, **unused: Any) -> Tensor:
        """Integrate ``dx/dt = v`` from noise at t = 1 to t = 0."""
        device = model_device(self)
        c = self.config
        name = check_sampler(sampler or c.sampler)
        steps = steps or c.sample_steps
        if steps < 1:
            raise ConfigError(f"steps must be a positive integer, got {steps}")
        scale = c.guidance_scale if guidance_scale is None else float(guidance_scale)
        labels = self.sample_labels(n, class_labels, scale, device)
        net = self.guided_fn(labels, scale)

        def v(t: Tensor, x: Tensor) -> Tensor:
            return net(x, t * TIME_SCALE)

        x = randn((n, *c.shape), generator=generator, device=device) if noise is None else noise
        if name == "dopri5":
            x = odeint(v, x, 1.0, 0.0, rtol=c.ode_rtol, atol=c.ode_atol)
        else:
            ts = torch.linspace(1.0, 0.0, steps + 1, device=device)
            for t, t_next in zip(ts[:-1], ts[1:]):
                d = v(t, x)
                x_next = x + (t_next - t) * d
                if name == "heun":
                    x_next = x + (t_next - t) * (d + v(t_next, x_next)) / 2
                x = x_next
        return x.clamp(-1, 1) if self.is_image else x

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact-divergence probability-flow likelihood (nats per example)."""
        labels = self.likelihood_labels(x)

        def velocity(z: Tensor, t: Tensor) -> Tensor:
            return self.velocity(z, t, labels)

        return ode_log_prob(velocity, x, 0.0, 1.0, gaussian_log_prob, trace="exact",
                            rtol=self.config.ode_rtol, atol=self.config.ode_atol)

    def save_extra(self, path) -> None:
        """No diffusers scheduler layout for flows (genzoo's config.json describes the sampler)."""


def check_sampler(name: str) -> str:
    if name not in FM_SAMPLERS:
        raise ConfigError(f"unknown flow-matching sampler {name!r}{did_you_mean(name, FM_SAMPLERS)}")
    return name
