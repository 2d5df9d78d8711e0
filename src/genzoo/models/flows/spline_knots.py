"""The rational-quadratic spline's parametrisation: the knot table from unconstrained parameters,
each input's bin, and the bin's rational function's log-slope (Durkan et al. 2019; see ``spline.py``).
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor


@functools.lru_cache(maxsize=32)
def _constants(k: int, bound: float, min_width: float, min_derivative: float, dtype: torch.dtype, device: torch.device):
    """Knot offsets -B + 2B·min_width·j (j = 1..K) and the softplus shift giving δ = 1 at zero."""
    offsets = -bound + 2 * bound * min_width * torch.arange(1, k + 1, dtype=dtype, device=device)
    shift = math.log(math.expm1(1 - min_derivative))  # softplus(shift) + min_derivative = 1
    return offsets, shift


def knot_table(params: Tensor, bound: float, min_width: float, min_derivative: float) -> tuple[Tensor, tuple]:
    """The (..., 3, K+1) table of knot x, y and derivatives, and ``(e, cum, u)`` for a backward.

    Knots x_j = -B + 2B (min_width j + (1 - K min_width) Σ_{i<=j} softmax_i), j = 0..K, widths and
    heights at once; the softmax is exp / cumsum (the fused softmax is slow for K ~ 8 on CPU).
    """
    k = (params.shape[-1] + 1) // 3
    offsets, shift = _constants(k, float(bound), min_width, min_derivative, params.dtype, params.device)
    raw = params[..., : 2 * k].unflatten(-1, (2, k)).contiguous()  # elementwise ops on strided views are slow
    e = (raw - raw.detach().amax(-1, keepdim=True)).exp()
    cum = e.cumsum(-1)
    knots = F.pad(torch.add(offsets, cum / cum[..., -1:], alpha=2 * bound * (1 - min_width * k)), (1, 0), value=-bound)
    u = params[..., 2 * k:].contiguous() + shift
    deriv = F.pad(F.softplus(u) + min_derivative, (1, 1), value=1.0)
    return torch.cat([knots, deriv.unsqueeze(-2)], -2), (e, cum, u)


@torch.no_grad()
def bin_index(table: Tensor, x: Tensor, inverse: bool) -> Tensor:
    """Each input's left and right knot, (..., 3, 2): the number of interior knots <= x (a searchsorted)."""
    idx = (table[..., int(inverse), 1:-1] <= x.unsqueeze(-1)).sum(-1, keepdim=True)
    return torch.cat([idx, idx + 1], -1).unsqueeze(-2).expand(*idx.shape[:-1], 3, 2)


def bin_params(table: Tensor, idx: Tensor) -> tuple[Tensor, ...]:
    """Each input's bin: ``x₀, y₀, δ₀, w, h, δ₁, s, a`` from the knot table."""
    lo, hi = table.gather(-1, idx).unbind(-1)                                    # (..., 3) each
    x0, y0, d0 = lo.unbind(-1)
    w, h, _ = (hi - lo).unbind(-1)
    d1 = hi[..., 2]
    s = h / w
    return x0, y0, d0, w, h, d1, s, d0 + d1 - 2 * s


def log_slope(xi: Tensor, s: Tensor, a: Tensor, d0: Tensor, d1: Tensor) -> tuple[Tensor, ...]:
    """``t = ξ(1-ξ), D, N`` and ``L = log(s² N / D²)`` at the position ξ in the bin."""
    xi2 = xi * xi
    t = xi - xi2
    den = torch.addcmul(s, a, t)
    one_minus = 1 - xi
    dnum = torch.addcmul(torch.addcmul(d1 * xi2, s, t, value=2.0), d0, one_minus * one_minus)
    return t, den, dnum, (s * s * dnum / (den * den)).log()
