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
and the rational function uses fused ``addcmul``/``addcdiv``; the forward map is one autograd node
with a hand-derived backward (``spline_forward.py``).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .spline_forward import rq_forward
from .spline_knots import bin_index, bin_params, knot_table, log_slope


def rq_spline(x: Tensor, params: Tensor, bound: float = 5.0, inverse: bool = False,
              min_width: float = 1e-3, min_derivative: float = 1e-3) -> tuple[Tensor, Tensor]:
    """Apply the spline elementwise. ``params``: (*x.shape, 3K - 1). Returns ``(y, log|dy/dx|)``."""
    inside = x.abs() < bound
    # the common case: skip the clamp and the two tail selections (not under torch.func: no data-dependent branch)
    all_inside = torch._C._functorch.peek_interpreter_stack() is None and bool(inside.all())
    xc = x if all_inside else x.clamp(-bound, bound)
    if not inverse:
        y, logdet = rq_forward(xc, params, float(bound), min_width, min_derivative)
    else:
        table = knot_table(params, bound, min_width, min_derivative)[0]
        x0, y0, d0, w, h, d1, s, a = bin_params(table, bin_index(table, xc, True))
        dy = xc - y0
        qa = torch.addcmul(h * (s - d0), dy, a)
        qb = torch.addcmul(h * d0, dy, a, value=-1.0)
        qc = -s * dy
        disc = (qb * qb - 4 * qa * qc).clamp_min(0)
        xi = ((2 * qc) / (-qb - disc.sqrt())).clamp(0, 1)
        logdet = log_slope(xi, s, a, d0, d1)[-1]
        y = torch.addcmul(x0, xi, w)
    if not all_inside:
        y, logdet = torch.where(inside, y, x), torch.where(inside, logdet, 0.0)
    return (y, -logdet) if inverse else (y, logdet)

