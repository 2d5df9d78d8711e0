"""ODE solvers for continuous-time models: fixed-step RK4 and adaptive Dormand–Prince 5(4).

Solve dy/dt = f(t, y) from t0 to t1 (t1 < t0 integrates backwards). ``y`` is a Tensor; solvers
are plain functions, differentiable end to end (backpropagation through the solver, i.e.
"discretise-then-optimise"; step-size decisions are taken on detached values).

- ``rk4``: classical 4th-order Runge–Kutta with ``steps`` equal steps (4 evaluations per step).
- ``dopri5``: Dormand & Prince 1980, 5th-order solution with an embedded 4th-order error estimate,
  first-same-as-last, step control h ← h · clip(0.9 · err^(-1/5), 0.2, 10) with
  err = RMS(|y5 - y4| / (atol + rtol · max(|y|, |y_new|))). Used by FFJORD (Grathwohl et al. 2019)
  and by probability-flow ODE samplers.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Func = Callable[[Tensor, Tensor], Tensor]

# Dormand–Prince tableau
_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
_B5 = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
_B4 = (5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40)
_E = tuple(b5 - b4 for b5, b4 in zip(_B5, _B4))


def _time(t: float, y: Tensor) -> Tensor:
    return torch.tensor(t, dtype=y.dtype, device=y.device)


def rk4(f: Func, y0: Tensor, t0: float, t1: float, steps: int = 8) -> Tensor:
    """Classical Runge–Kutta with ``steps`` equal steps."""
    h = (t1 - t0) / steps
    y, t = y0, t0
    for _ in range(steps):
        k1 = f(_time(t, y), y)
        k2 = f(_time(t + h / 2, y), y + (h / 2) * k1)
        k3 = f(_time(t + h / 2, y), y + (h / 2) * k2)
        k4 = f(_time(t + h, y), y + h * k3)
        y = y + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
        t += h
    return y


def dopri5(f: Func, y0: Tensor, t0: float, t1: float, rtol: float = 1e-5, atol: float = 1e-5,
           first_step: float | None = None, max_steps: int = 10_000) -> Tensor:
    """Adaptive Dormand–Prince 5(4) from t0 to t1; returns y(t1)."""
    span = t1 - t0
    if span == 0:
        return y0
    direction = 1.0 if span > 0 else -1.0
    y, t = y0, t0
    k1 = f(_time(t, y), y)
    h = abs(first_step) if first_step else _initial_step(f, t, y, k1, direction, rtol, atol)
    for _ in range(max_steps):
        remaining = (t1 - t) * direction
        if remaining <= 1e-12 * abs(span):
            return y
        h = min(h, remaining)
        dt = h * direction
        ks = [k1]
        for i in range(1, 7):
            yi = y + dt * sum(a * k for a, k in zip(_A[i], ks) if a != 0.0)
            ks.append(f(_time(t + _C[i] * dt, y), yi))
        y_new = y + dt * sum(b * k for b, k in zip(_B5, ks) if b != 0.0)
        err_vec = dt * sum(e * k for e, k in zip(_E, ks) if e != 0.0)
        with torch.no_grad():
            scale = atol + rtol * torch.maximum(y.abs(), y_new.abs())
            err = (err_vec / scale).pow(2).mean().sqrt().item()
        if err <= 1.0:
            y, t, k1 = y_new, t + dt, ks[6]  # first-same-as-last
        factor = 10.0 if err == 0 else min(10.0, max(0.2, 0.9 * err ** -0.2))
        h = h * factor
    raise RuntimeError(f"dopri5 did not reach t={t1} in {max_steps} steps; loosen rtol/atol or use rk4")


@torch.no_grad()
def _initial_step(f: Func, t: float, y: Tensor, f0: Tensor, direction: float, rtol: float, atol: float) -> float:
    """Hairer, Nørsett & Wanner's starting step size heuristic."""
    scale = atol + rtol * y.abs()
    d0 = (y / scale).pow(2).mean().sqrt().item()
    d1 = (f0 / scale).pow(2).mean().sqrt().item()
    h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
    f1 = f(_time(t + direction * h0, y), y + direction * h0 * f0)
    d2 = ((f1 - f0) / scale).pow(2).mean().sqrt().item() / h0
    h1 = max(1e-6, h0 * 1e-3) if max(d1, d2) <= 1e-15 else (0.01 / max(d1, d2)) ** 0.2
    return min(100 * h0, h1)


def odeint(f: Func, y0: Tensor, t0: float, t1: float, method: str = "dopri5", **kw) -> Tensor:
    """``method``: "dopri5" (kw: rtol, atol, first_step, max_steps) or "rk4" (kw: steps)."""
    if method == "dopri5":
        return dopri5(f, y0, t0, t1, **kw)
    if method == "rk4":
        return rk4(f, y0, t0, t1, **{k: v for k, v in kw.items() if k == "steps"})
    raise ValueError(f"unknown ODE method {method!r}; use 'dopri5' or 'rk4'")
