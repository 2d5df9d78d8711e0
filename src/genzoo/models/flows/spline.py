"""Monotonic rational-quadratic splines with linear tails (Durkan et al. 2019, "Neural Spline Flows").

On [-B, B] the spline has K bins with knots (x_k, y_k) and positive knot derivatives δ_k (δ_0 =
δ_K = 1 so it joins the identity tails smoothly). In bin k, with w = x_{k+1} - x_k, h = y_{k+1} - y_k,
s = h / w and ξ = (x - x_k) / w ∈ [0, 1]:

    y = y_k + h [s ξ² + δ_k ξ(1-ξ)] / [s + (δ_{k+1} + δ_k - 2 s) ξ(1-ξ)]

    dy/dx = s² [δ_{k+1} ξ² + 2 s ξ(1-ξ) + δ_k (1-ξ)²] / [s + (δ_{k+1} + δ_k - 2 s) ξ(1-ξ)]²

The inverse solves the quadratic a ξ² + b ξ + c = 0 for ξ with the stable root ξ = 2c / (-b - √(b² - 4ac)).
Outside [-B, B] the map is the identity ("linear tails"), log-det 0.

Unconstrained parameters (3K - 1 per feature): widths (K) and heights (K) through a softmax with a
minimum bin size, interior derivatives (K - 1) through a shifted softplus (zero parameters give the
identity map). Written for speed on small batches, where the cost is the number of tensor ops:
widths and heights are normalised together, the three knot tables are looked up with ONE gather,
and the rational function uses fused ``addcmul``/``addcdiv``.
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


def rq_spline(x: Tensor, params: Tensor, bound: float = 5.0, inverse: bool = False,
              min_width: float = 1e-3, min_derivative: float = 1e-3) -> tuple[Tensor, Tensor]:
    """Apply the spline elementwise. ``params``: (*x.shape, 3K - 1). Returns ``(y, log|dy/dx|)``."""
    k = (params.shape[-1] + 1) // 3
    offsets, shift = _constants(k, float(bound), min_width, min_derivative, params.dtype, params.device)
    # knots: x_j = -B + 2B (min_width j + (1 - K min_width) Σ_{i<=j} softmax_i), j = 0..K, widths and
    # heights at once; the softmax is exp / cumsum (the fused softmax is slow for K ~ 8 on CPU)
    raw = params[..., : 2 * k].unflatten(-1, (2, k)).contiguous()  # elementwise ops on strided views are slow
    e = (raw - raw.detach().amax(-1, keepdim=True)).exp()
    cum = e.cumsum(-1)
    knots = F.pad(torch.add(offsets, cum / cum[..., -1:], alpha=2 * bound * (1 - min_width * k)), (1, 0), value=-bound)
    deriv = F.pad(F.softplus(params[..., 2 * k:].contiguous() + shift) + min_derivative, (1, 1), value=1.0)
    table = torch.cat([knots, deriv.unsqueeze(-2)], -2)                          # (..., 3, K+1)

    inside = x.abs() < bound
    all_inside = bool(inside.all())  # the common case: skip the clamp and the two tail selections
    xc = x if all_inside else x.clamp(-bound, bound)
    with torch.no_grad():  # bin index = number of interior knots <= x (a searchsorted over K-1 knots)
        idx = (knots[..., int(inverse), 1:-1] <= xc.unsqueeze(-1)).sum(-1, keepdim=True)
        idx = torch.cat([idx, idx + 1], -1).unsqueeze(-2).expand(*idx.shape[:-1], 3, 2)
    lo, hi = table.gather(-1, idx).unbind(-1)                                    # (..., 3) each
    x0, y0, d0 = lo.unbind(-1)
    w, h, _ = (hi - lo).unbind(-1)
    d1 = hi[..., 2]
    s = h / w
    a = d0 + d1 - 2 * s

    if inverse:
        dy = xc - y0
        qa = torch.addcmul(h * (s - d0), dy, a)
        qb = torch.addcmul(h * d0, dy, a, value=-1.0)
        qc = -s * dy
        disc = (qb * qb - 4 * qa * qc).clamp_min(0)
        xi = ((2 * qc) / (-qb - disc.sqrt())).clamp(0, 1)
    else:
        xi = (xc - x0) / w
    xi2 = xi * xi
    t = xi - xi2                                                                  # ξ(1-ξ)
    den = torch.addcmul(s, a, t)
    one_minus = 1 - xi
    dnum = torch.addcmul(torch.addcmul(d1 * xi2, s, t, value=2.0), d0, one_minus * one_minus)
    logdet = (s * s * dnum / (den * den)).log()
    y = torch.addcmul(x0, xi, w) if inverse else torch.addcdiv(y0, h * torch.addcmul(s * xi2, d0, t), den)
    if not all_inside:
        y, logdet = torch.where(inside, y, x), torch.where(inside, logdet, 0.0)
    return (y, -logdet) if inverse else (y, logdet)
