"""Monotonic rational-quadratic splines with linear tails (Durkan et al. 2019, "Neural Spline Flows").

On [-B, B] the spline has K bins with knots (x_k, y_k) and positive knot derivatives δ_k (δ_0 =
δ_K = 1 so it joins the identity tails smoothly). In bin k, with s_k = (y_{k+1}-y_k)/(x_{k+1}-x_k)
and ξ = (x - x_k)/(x_{k+1} - x_k) ∈ [0, 1]:

    y = y_k + (y_{k+1}-y_k) [s_k ξ² + δ_k ξ(1-ξ)] / [s_k + (δ_{k+1} + δ_k - 2 s_k) ξ(1-ξ)]

    dy/dx = s_k² [δ_{k+1} ξ² + 2 s_k ξ(1-ξ) + δ_k (1-ξ)²] / [s_k + (δ_{k+1} + δ_k - 2 s_k) ξ(1-ξ)]²

The inverse solves the quadratic a ξ² + b ξ + c = 0 for ξ with the stable root ξ = 2c / (-b - √(b² - 4ac)).
Outside [-B, B] the map is the identity ("linear tails"), log-det 0.

Unconstrained parameters (3K - 1 per feature): widths (K) and heights (K) through a softmax (with a
minimum bin size), interior derivatives (K - 1) through softplus shifted so that zero parameters
give the identity map. All features are handled at once: one gather for the six bin quantities.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

_SOFTPLUS_ONE = math.log(math.e - 1)  # softplus(_SOFTPLUS_ONE) = 1


def _knots(raw: Tensor, bound: float, min_width: float) -> Tensor:
    """Unnormalised bin sizes (..., K) -> knot positions (..., K + 1) from -B to B."""
    k = raw.shape[-1]
    w = min_width + (1 - min_width * k) * raw.softmax(-1)
    knots = F.pad(w.cumsum(-1), (1, 0)) * (2 * bound) - bound
    return knots


def rq_spline(x: Tensor, params: Tensor, bound: float = 5.0, inverse: bool = False,
              min_width: float = 1e-3, min_derivative: float = 1e-3) -> tuple[Tensor, Tensor]:
    """Apply the spline elementwise. ``params``: (*x.shape, 3K - 1). Returns ``(y, log|dy/dx|)``."""
    k = (params.shape[-1] + 1) // 3
    xs = _knots(params[..., :k], bound, min_width)
    ys = _knots(params[..., k:2 * k], bound, min_width)
    d = min_derivative + (1 - min_derivative) * F.softplus(params[..., 2 * k:] + _SOFTPLUS_ONE)
    d = F.pad(d, (1, 1), value=1.0)

    inside = (x > -bound) & (x < bound)
    xc = x.clamp(-bound, bound)
    knots_in = ys if inverse else xs
    # bin index: number of interior knots at or below x (a searchsorted over K - 1 knots)
    idx = (knots_in[..., 1:-1] <= xc[..., None]).sum(-1, keepdim=True)
    table = torch.stack((xs, ys, d), dim=-2)                     # (..., 3, K + 1)
    lo = table.gather(-1, idx[..., None, :].expand(*idx.shape[:-1], 3, 1)).squeeze(-1)
    hi = table.gather(-1, (idx + 1)[..., None, :].expand(*idx.shape[:-1], 3, 1)).squeeze(-1)
    x0, y0, d0 = lo.unbind(-1)
    x1, y1, d1 = hi.unbind(-1)
    w, h = x1 - x0, y1 - y0
    s = h / w

    if inverse:
        dy = xc - y0
        a = h * (s - d0) + dy * (d1 + d0 - 2 * s)
        b = h * d0 - dy * (d1 + d0 - 2 * s)
        c = -s * dy
        disc = (b * b - 4 * a * c).clamp_min(0)
        xi = (2 * c) / (-b - disc.sqrt())
    else:
        xi = (xc - x0) / w
    xi = xi.clamp(0, 1)
    t = xi * (1 - xi)
    den = s + (d1 + d0 - 2 * s) * t
    deriv = s * s * (d1 * xi * xi + 2 * s * t + d0 * (1 - xi) ** 2) / (den * den)
    logdet = torch.where(inside, deriv.log(), torch.zeros_like(x))
    if inverse:
        y = torch.where(inside, x0 + xi * w, x)
        return y, -logdet
    y = torch.where(inside, y0 + h * (s * xi * xi + d0 * t) / den, x)
    return y, logdet
