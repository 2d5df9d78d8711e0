"""Exact log-likelihood through an ODE: the instantaneous change of variables (Chen et al. 2018,
"Neural ODEs"; Grathwohl et al. 2019, FFJORD; Song et al. 2021, section 4.3 and appendix D.2).

For ``dx/dt = v(x, t)`` the density along a trajectory obeys ``d log p_t(x_t) / dt = -div v(x_t, t)``,
so with ``x(t_data) = x`` and ``z = x(t_prior)``::

    log p(x) = log p_prior(z) + int_{t_data}^{t_prior} div v(x_t, t) dt

The augmented state ``[x_t, int div v]`` is integrated with an adaptive Dormand–Prince solver
(``samplers.ode.dopri5``, or scipy's RK45 with ``method="rk45"``). The divergence is

- ``exact``: ``sum_i d v_i / d x_i`` by D vector–Jacobian products (fine for 2-D / tabular data);
- ``hutchinson``: ``e^T (dv/dx) e`` with one fixed Rademacher ``e`` per example (Hutchinson 1989),
  an unbiased estimate of the trace and therefore of ``log p`` (one extra backward pass per step).

For a score model the velocity is the probability-flow ODE ``v = f(x, t) - 1/2 g(t)^2 s(x, t)``; for
flow matching it is the learned field; ``ddpm_log_prob`` uses the DDIM ODE of a discrete-time DDPM
``d(x/a)/d sigma = eps(x, t(sigma))`` (Song, Meng & Ermon 2021, eq. 14) with ``t(sigma)`` interpolated.
The result is the exact density of the model the ODE sampler draws from, up to solver tolerance.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError
from ..utils import rand
from .ode import odeint

Velocity = Callable[[Tensor, Tensor], Tensor]
TRACES = ("exact", "hutchinson", "auto")


def gaussian_log_prob(z: Tensor, std: float = 1.0) -> Tensor:
    """``log N(z; 0, std^2 I)`` per example (any example shape)."""
    d = z[0].numel()
    return -0.5 * d * np.log(2 * np.pi * std ** 2) - z.flatten(1).pow(2).sum(1) / (2 * std ** 2)


def divergence(v: Tensor, x: Tensor, *, trace: str = "exact", probe: Tensor | None = None) -> Tensor:
    """Per-example ``div v = tr(dv/dx)`` for ``v = f(x)`` computed with ``x.requires_grad``."""
    if trace == "hutchinson":
        (g,) = torch.autograd.grad(v, x, probe, retain_graph=False)
        return (g * probe).flatten(1).sum(1)
    flat_v = v.flatten(1)
    div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for i in range(flat_v.shape[1]):
        (g,) = torch.autograd.grad(flat_v[:, i].sum(), x, retain_graph=i + 1 < flat_v.shape[1])
        div = div + g.flatten(1)[:, i]
    return div


def resolve_trace(trace: str, dims: int, exact_max_dims: int = 16) -> str:
    if trace not in TRACES:
        raise ConfigError(f"unknown trace {trace!r}; use exact, hutchinson or auto")
    if trace == "auto":
        return "exact" if dims <= exact_max_dims else "hutchinson"
    return trace


def ode_log_prob(velocity: Velocity, x: Tensor, t_data: float, t_prior: float,
                 prior_log_prob: Callable[[Tensor], Tensor], *, trace: str = "auto",
                 generator: torch.Generator | None = None, method: str = "dopri5", rtol: float = 1e-5,
                 atol: float = 1e-5, steps: int = 100, stats: dict | None = None) -> Tensor:
    """``log p(x)`` (N,) in nats for the flow ``dx/dt = velocity(x, t)`` carrying ``p_prior`` at ``t_prior``.

    ``generator`` seeds the Hutchinson probes (same seed, same estimate). ``stats["nfe"]`` receives the
    number of velocity evaluations.
    """
    n, shape = x.shape[0], x.shape[1:]
    d = int(np.prod(shape))
    trace = resolve_trace(trace, d)
    probe = None
    if trace == "hutchinson":
        probe = rand(x.shape, generator=generator, device=x.device, dtype=x.dtype).round() * 2 - 1
    nfe = [0]

    def f(t: Tensor, y: Tensor) -> Tensor:
        nfe[0] += 1
        with torch.enable_grad():
            xt = y[:, :d].reshape(n, *shape).detach().requires_grad_(True)
            v = velocity(xt, t.expand(n))
            div = divergence(v, xt, trace=trace, probe=probe)
        return torch.cat([v.detach().flatten(1), div.detach()[:, None]], 1)

    y0 = torch.cat([x.detach().flatten(1), torch.zeros(n, 1, dtype=x.dtype, device=x.device)], 1)
    with torch.no_grad():
        if method == "rk45":
            y1 = _scipy_rk45(f, y0, t_data, t_prior, rtol, atol)
        elif method == "dopri5":
            y1 = odeint(f, y0, t_data, t_prior, method="dopri5", rtol=rtol, atol=atol)
        else:
            y1 = odeint(f, y0, t_data, t_prior, method=method, steps=steps)
        z, delta = y1[:, :d].reshape(n, *shape), y1[:, d]
        logp = prior_log_prob(z) + delta
    if stats is not None:
        stats["nfe"] = nfe[0]
    return logp


def _scipy_rk45(f, y0: Tensor, t0: float, t1: float, rtol: float, atol: float) -> Tensor:
    """Song et al.'s choice: scipy's RK45 on the flattened state (float64 on the CPU)."""
    from scipy.integrate import solve_ivp

    shape, dtype, device = y0.shape, y0.dtype, y0.device

    def rhs(t, y):
        yt = torch.from_numpy(y).reshape(shape).to(device, dtype)
        return f(torch.tensor(t, dtype=dtype, device=device), yt).double().cpu().numpy().reshape(-1)

    sol = solve_ivp(rhs, (t0, t1), y0.double().cpu().numpy().reshape(-1), rtol=rtol, atol=atol, method="RK45")
    return torch.from_numpy(sol.y[:, -1]).reshape(shape).to(device, dtype)


def ddpm_log_prob(model, x: Tensor, *, class_labels: Tensor | None = None, **kw) -> Tensor:
    """``log p(x)`` of a discrete-time ``ddpm`` model through its DDIM probability-flow ODE.

    State ``xbar = x_t / a_t`` on ``sigma_t = s_t / a_t``: ``d xbar / d sigma = eps(a xbar, t(sigma))``
    with ``t(sigma)`` the fractional training step (log-sigma interpolation). ``xbar`` starts at the
    data (the first step's noise, ``sigma_0``, is part of the model) and ends at ``sigma_T`` where
    ``x_T ~ N(0, I)``, i.e. ``xbar ~ N(0, (1 + sigma_T^2) I)``. A class-conditional model without
    ``class_labels`` is scored unconditionally (the null class of classifier-free guidance).
    """
    from .noise_schedule import to_eps

    n_classes = getattr(model.config, "num_classes", None)
    if class_labels is None and n_classes is not None:
        if not model.config.null_class:
            raise ConfigError("log p(x) of a class-conditional ddpm needs class_labels or a null class (label dropout)")
        class_labels = torch.full((x.shape[0],), n_classes, dtype=torch.long, device=x.device)   # unconditional
    sig = torch.from_numpy(model.schedule.sigmas().astype(np.float64))
    log_sig = sig.log()
    steps = torch.arange(len(sig), dtype=torch.float64)
    sig_lo, sig_hi = float(sig[0]), float(sig[-1])

    def velocity(xbar: Tensor, s: Tensor) -> Tensor:
        ls = s.double().log().clamp(float(log_sig[0]), float(log_sig[-1]))
        t = torch.from_numpy(np.interp(ls.cpu().numpy(), log_sig.numpy(), steps.numpy())).to(xbar.device, xbar.dtype)
        alpha = (1 + s ** 2).rsqrt().reshape(-1, *([1] * (xbar.ndim - 1))).to(xbar.dtype)
        xt = alpha * xbar
        out = model.net(xt.float(), t.float(), class_labels).to(xbar.dtype)
        return to_eps(out, xt, alpha, alpha * s.reshape(alpha.shape).to(xbar.dtype), model.prediction)

    return ode_log_prob(velocity, x, sig_lo, sig_hi, lambda z: gaussian_log_prob(z, (1 + sig_hi ** 2) ** 0.5), **kw)
