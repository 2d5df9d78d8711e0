"""Log-likelihood through a probability-flow ODE (instantaneous change of variables, Chen et al. 2018;
Song et al. 2021, eq. 39).

For ``dx/dt = v(x, t)`` carrying data at ``t0`` to a known prior at ``t1``::

    log p_t0(x) = log p_t1(x(t1)) + int_t0^t1 div v(x(t), t) dt

integrated with adaptive Dormand-Prince on the augmented state ``[x, int div v]``; the divergence is
exact (one backward pass per dimension), so the result is exact up to the ODE tolerance.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from .ode import odeint


def divergence(v: Tensor, z: Tensor) -> Tensor:
    """``sum_i d v_i / d z_i`` per example for ``v`` (N, D) computed from ``z`` (N, D)."""
    div = torch.zeros(z.shape[0], device=z.device, dtype=v.dtype)
    for i in range(z.shape[1]):
        div = div + torch.autograd.grad(v[:, i].sum(), z, retain_graph=i < z.shape[1] - 1)[0][:, i]
    return div


def ode_log_prob(velocity: Callable[[Tensor, Tensor], Tensor], x: Tensor, prior_log_prob: Callable[[Tensor], Tensor],
                 t0: float, t1: float, rtol: float = 1e-5, atol: float = 1e-5) -> Tensor:
    """``log p_t0(x)`` (N,) for the ODE ``dx/dt = velocity(x, t)`` (``x`` in data shape, t a 0-d tensor)."""
    shape = x.shape
    D = math.prod(shape[1:])

    def f(t: Tensor, state: Tensor) -> Tensor:
        with torch.enable_grad():
            z = state[:, :D].detach().requires_grad_(True)
            v = velocity(z.reshape(shape), t).reshape(shape[0], D)
            div = divergence(v, z)
        return torch.cat([v.detach(), div.detach()[:, None]], dim=1)

    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32  # float64 in, float64 integration
    state = torch.cat([x.reshape(shape[0], D).to(dtype), torch.zeros(shape[0], 1, device=x.device, dtype=dtype)], dim=1)
    end = odeint(f, state, t0, t1, rtol=rtol, atol=atol)
    return prior_log_prob(end[:, :D]) + end[:, D]


def standard_normal_log_prob(z: Tensor, std: float = 1.0) -> Tensor:
    """``log N(z; 0, std^2 I)`` per row of (N, D) ``z``."""
    D = z.shape[1]
    return -0.5 * (z / std).pow(2).sum(1) - D * (math.log(std) + 0.5 * math.log(2 * math.pi))
