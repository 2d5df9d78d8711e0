"""Score-based generative models through SDEs (Song, Sohl-Dickstein, Kingma, Kumar, Ermon & Poole
2021), registered ``score-sde``.

Forward SDE (``sde``: ``vp``, ``subvp``, ``ve``; see ``genzoo.samplers.sde``) with marginals
``x_t = m(t) x_0 + s(t) eps``. The network predicts the noise, ``score(x, t) = -eps_hat(x, t) / s(t)``,
trained by denoising score matching with the likelihood-agnostic weighting ``lambda(t) = s(t)^2``::

    L = E_{t ~ U(eps, 1), x_0, eps} || eps_hat(m(t) x_0 + s(t) eps, t) - eps ||^2

Sampling (``sampler``): ``pc`` (reverse-diffusion predictor + Langevin corrector), ``em``
(Euler-Maruyama on the reverse SDE) or ``ode`` (probability-flow ODE with adaptive dopri5).
``log_prob`` integrates the probability-flow ODE from ``t = eps`` to 1 with the exact divergence
(``genzoo.samplers.likelihood_ode``): log p_eps(x), exact up to the solver tolerance.

The networks, class conditioning and guidance are the ``ddpm`` ones; the network sees ``999 t``.
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
from ..samplers.sde import SDE, reverse_sde_sample
from ..utils import model_device, randn, unpack_batch
from ..nn.batch_noise import batch_rand, batch_randn_like
from .diffusion import DDPM, DDPMConfig

SDE_SAMPLERS = ("pc", "em", "ode")
TIME_SCALE = 999.0


@dataclasses.dataclass
class ScoreSDEConfig(DDPMConfig):
    sde: str = "vp"
    beta_min: float = 0.1
    beta_max: float = 20.0
    sigma_min: float = 0.01
    sigma_max: float = 50.0
    t_eps: float = 1e-3                 # smallest time used in training, sampling and likelihood
    sampler: str = "ode"                # pc | em | ode
    sample_steps: int = 500
    snr: float = 0.16
    corrector_steps: int = 1
    ode_rtol: float = 1e-5
    ode_atol: float = 1e-5


@register_model("score-sde")
class ScoreSDE(DDPM):
    config_class = ScoreSDEConfig
    log_prob_kind = "exact"
    #: 2-D: the settings of the ODE-likelihood figure (benchmarks/results/score.md, results/defaults.md)
    kind_defaults = {"2d": {"budget": {"steps": 6000, "batch_size": 512, "lr": 2e-3}}}

    def __init__(self, config: ScoreSDEConfig):
        if config.sampler not in SDE_SAMPLERS:
            raise ConfigError(f"unknown score-sde sampler {config.sampler!r}{did_you_mean(config.sampler, SDE_SAMPLERS)}")
        super().__init__(dataclasses.replace(config, sampler="euler"))
        self.config = config
        self.sde = SDE(config.sde, config.beta_min, config.beta_max, config.sigma_min, config.sigma_max)

    @classmethod
    def contract_fixture(cls):
        config = ScoreSDEConfig(shape=(2,), hidden=32, depth=2, sampler="em", sample_steps=20, ode_rtol=1e-3, ode_atol=1e-3)
        return config, torch.randn(64, 2) * 0.5 + 1.0

    def eps_hat(self, x: Tensor, t: Tensor, class_labels: Tensor | None = None) -> Tensor:
        return self.net(x, t.expand(x.shape[0]) * TIME_SCALE, class_labels)

    def loss(self, batch) -> dict[str, Tensor]:
        x0, y = unpack_batch(batch)
        self.check_input(x0)
        n = x0.shape[0]
        t = batch_rand(n, device=x0.device) * (1 - self.config.t_eps) + self.config.t_eps
        m, s = self.sde.marginal(t)
        shape = (-1,) + (1,) * (x0.ndim - 1)
        noise = batch_randn_like(x0)
        xt = m.reshape(shape) * x0 + s.reshape(shape) * noise
        out = self.net(xt, t * TIME_SCALE, self.training_labels(y, n, x0.device))
        return {"loss": F.mse_loss(out.float(), noise.float())}

    def score_fn(self, class_labels: Tensor | None = None, guidance_scale: float = 1.0):
        net = self.guided_fn(class_labels, guidance_scale)

        def score(x: Tensor, t: Tensor) -> Tensor:
            return -net(x, t.expand(x.shape[0]) * TIME_SCALE) / self.sde.marginal(t)[1]
        return score

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, steps: int | None = None,
               sampler: str | None = None, guidance_scale: float | None = None, class_labels=None,
               **unused: Any) -> Tensor:
        c = self.config
        name = sampler or c.sampler
        if name not in SDE_SAMPLERS:
            raise ConfigError(f"unknown score-sde sampler {name!r}{did_you_mean(name, SDE_SAMPLERS)}")
        device = model_device(self)
        scale = c.guidance_scale if guidance_scale is None else float(guidance_scale)
        score = self.score_fn(self.sample_labels(n, class_labels, scale, device), scale)
        shape = (n, *c.shape)
        if name == "ode":
            x = randn(shape, generator=generator, device=device) * self.sde.prior_std
            drift = self.sde.ode_drift(score)
            x = odeint(lambda t, y: drift(y, t), x, 1.0, c.t_eps, rtol=c.ode_rtol, atol=c.ode_atol)
        else:
            x = reverse_sde_sample(score, self.sde, shape, steps or c.sample_steps, eps=c.t_eps, snr=c.snr,
                                   corrector_steps=c.corrector_steps if name == "pc" else 0, generator=generator,
                                   device=device)
        return x.clamp(-1, 1) if self.is_image else x

    def log_prob(self, x: Tensor) -> Tensor:
        """log p_{t_eps}(x) by the probability-flow ODE (nats per example)."""
        labels = self.likelihood_labels(x)
        drift = self.sde.ode_drift(self.score_fn(labels))
        std = self.sde.prior_std
        return ode_log_prob(lambda z, t: drift(z, t[0]), x, self.config.t_eps, 1.0, lambda z: gaussian_log_prob(z, std),
                            trace="exact", rtol=self.config.ode_rtol, atol=self.config.ode_atol)

    def save_extra(self, path) -> None:
        """genzoo's config.json describes the SDE; there is no diffusers scheduler for it."""
