"""Gradient-based MCMC for unnormalised densities p(x) ∝ exp(−E(x)): SGLD, MALA, HMC.

All samplers are stateless functions of an energy ``energy_fn(x) -> (N,)`` and a start ``x0``;
every random draw takes ``generator=`` (same seed, same chain).

- SGLD / unadjusted Langevin (Welling & Teh 2011; Du & Mordatch 2019 for EBMs):
      x ← x − (ε/2) ∇E(x) + σ ξ,  ξ ~ N(0, I),  σ = √ε by default (``noise`` decouples it, as EBM
      training usually does).
- MALA (Roberts & Tweedie 1996): the Langevin proposal x' = x − (ε/2)∇E(x) + √ε ξ is accepted with
      probability min(1, exp(−E(x') + E(x) − log q(x|x') + log q(x'|x))),
      q(b|a) = N(b; a − (ε/2)∇E(a), ε I).
- HMC (Duane et al. 1987; Neal 2011): momentum p ~ N(0, I), L leapfrog steps of size ε on
      H(x, p) = E(x) + ½‖p‖², accepted with probability min(1, exp(H − H')).

MALA and HMC adapt a per-chain step size during the first ``adapt_steps`` iterations with a
Robbins–Monro rule on log ε towards a target acceptance rate (0.574 for MALA, Roberts & Rosenthal
1998; 0.65 for HMC, Beskos et al. 2013) and report the acceptance rate of every iteration.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..nn.batch_noise import batch_randn_like
from ..utils import rand, randn

Energy = Callable[[Tensor], Tensor]


def energy_and_grad(energy_fn: Energy, x: Tensor) -> tuple[Tensor, Tensor]:
    """``(E(x), ∇ₓE(x))`` per example, detached (the sampler never trains the energy)."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        e = energy_fn(x)
        (g,) = torch.autograd.grad(e.sum(), x)
    return e.detach(), g.detach()


def _bcast(v: Tensor, x: Tensor) -> Tensor:
    """A per-chain (N,) value shaped to multiply an (N, ...) batch."""
    return v.view(-1, *([1] * (x.dim() - 1)))


@dataclass
class ChainInfo:
    """What an adaptive sampler reports: per-iteration acceptance rates and the final step sizes."""

    accept_rate: list[float] = field(default_factory=list)
    step_size: Tensor | None = None

    @property
    def mean_accept(self) -> float:
        return sum(self.accept_rate) / max(1, len(self.accept_rate))


def sgld(energy_fn: Energy, x0: Tensor, steps: int, step_size: float, *, noise: float | None = None,
         generator: torch.Generator | None = None, clip_grad: float | None = None,
         bounds: tuple[float, float] | None = None) -> Tensor:
    """``steps`` of x ← x − (ε/2)∇E(x) + σξ; optional per-coordinate gradient clipping and a box."""
    sigma = step_size ** 0.5 if noise is None else noise
    x = x0.detach().clone()
    for _ in range(steps):
        _, g = energy_and_grad(energy_fn, x)
        if clip_grad is not None:
            g = g.clamp(-clip_grad, clip_grad)
        xi = randn(x.shape, generator=generator, device=x.device, dtype=x.dtype) if generator is not None else batch_randn_like(x)
        x = x - 0.5 * step_size * g + sigma * xi  # (training chains: a data-parallel rank draws its rows)
        if bounds is not None:
            x = x.clamp(*bounds)
    return x


def _adapt(step: Tensor, accept_prob: Tensor, target: float, rate: float) -> Tensor:
    """Robbins–Monro on the log step size: log ε ← log ε + rate · (α − α*)."""
    return step * torch.exp(rate * (accept_prob - target))


Proposal = Callable[[Tensor, Tensor, Tensor, Tensor], tuple[Tensor, Tensor, Tensor, Tensor]]


def metropolis_chain(energy_fn: Energy, x0: Tensor, steps: int, step_size: float | Tensor, propose: Proposal, *,
                     generator: torch.Generator | None, adapt_steps: int, target_accept: float,
                     adapt_rate: float) -> tuple[Tensor, ChainInfo]:
    """Shared Metropolis–Hastings loop: ``propose(x, E(x), ∇E(x), ε) -> (x', E(x'), ∇E(x'), log α)``,
    accept with probability min(1, α), log the acceptance rate, adapt ε for ``adapt_steps`` iterations."""
    x = x0.detach().clone()
    n = len(x)
    eps = torch.as_tensor(step_size, dtype=x.dtype, device=x.device).expand(n).clone()
    e, g = energy_and_grad(energy_fn, x)
    info = ChainInfo()
    for it in range(steps):
        prop, e_p, g_p, log_alpha = propose(x, e, g, eps)
        accept_prob = log_alpha.clamp(max=0).exp().nan_to_num(0.0)
        accept = rand((n,), generator=generator, device=x.device, dtype=x.dtype) < accept_prob
        x = torch.where(_bcast(accept, x), prop, x)
        e = torch.where(accept, e_p, e)
        g = torch.where(_bcast(accept, g), g_p, g)
        info.accept_rate.append(accept.float().mean().item())
        if it < adapt_steps:
            eps = _adapt(eps, accept_prob, target_accept, adapt_rate)
    info.step_size = eps
    return x, info


def mala(energy_fn: Energy, x0: Tensor, steps: int, step_size: float | Tensor, *,
         generator: torch.Generator | None = None, adapt_steps: int = 0, target_accept: float = 0.574,
         adapt_rate: float = 0.5) -> tuple[Tensor, ChainInfo]:
    """Metropolis-adjusted Langevin; returns the chains' final states and a ``ChainInfo``."""

    def propose(x, e, g, eps):
        h = _bcast(eps, x)
        mean_fwd = x - 0.5 * h * g
        prop = mean_fwd + h.sqrt() * randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        e_p, g_p = energy_and_grad(energy_fn, prop)
        mean_bwd = prop - 0.5 * h * g_p
        log_q_fwd = -((prop - mean_fwd) ** 2).flatten(1).sum(1) / (2 * eps)
        log_q_bwd = -((x - mean_bwd) ** 2).flatten(1).sum(1) / (2 * eps)
        return prop, e_p, g_p, (e - e_p) + log_q_bwd - log_q_fwd

    return metropolis_chain(energy_fn, x0, steps, step_size, propose, generator=generator, adapt_steps=adapt_steps,
                            target_accept=target_accept, adapt_rate=adapt_rate)


def hmc(energy_fn: Energy, x0: Tensor, steps: int, step_size: float | Tensor, *, n_leapfrog: int = 10,
        generator: torch.Generator | None = None, adapt_steps: int = 0, target_accept: float = 0.65,
        adapt_rate: float = 0.5) -> tuple[Tensor, ChainInfo]:
    """Hamiltonian Monte Carlo with a leapfrog integrator; returns final states and a ``ChainInfo``."""

    def propose(x, e, g, eps):
        h = _bcast(eps, x)
        p0 = randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        xp, p, gp = x, p0 - 0.5 * h * g, g
        for i in range(n_leapfrog):
            xp = xp + h * p
            e_p, gp = energy_and_grad(energy_fn, xp)
            p = p - (h if i < n_leapfrog - 1 else 0.5 * h) * gp
        log_alpha = (e + 0.5 * p0.flatten(1).pow(2).sum(1)) - (e_p + 0.5 * p.flatten(1).pow(2).sum(1))
        return xp, e_p, gp, log_alpha

    return metropolis_chain(energy_fn, x0, steps, step_size, propose, generator=generator, adapt_steps=adapt_steps,
                            target_accept=target_accept, adapt_rate=adapt_rate)
