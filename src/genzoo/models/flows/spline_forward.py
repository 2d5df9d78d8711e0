"""The forward rational-quadratic map with a hand-derived backward (one autograd node, not ~30).

In a bin with left knot (x₀, y₀, δ₀), right knot (x₁, y₁, δ₁), w = x₁ - x₀, h = y₁ - y₀, s = h/w,
a = δ₀ + δ₁ - 2s, ξ = (x - x₀)/w, t = ξ(1 - ξ):

    P = s ξ² + δ₀ t,   D = s + a t,   N = δ₁ ξ² + 2 s t + δ₀ (1 - ξ)²
    y = y₀ + h P / D,  L = log|dy/dx| = log(s² N) - 2 log D

Backward (G = upstream gradients of y and L):

    ∂/∂P = G_y h/D,  ∂/∂D = -(G_y h P/D + 2 G_L)/D,  ∂/∂N = G_L/N
    ∂/∂ξ = ∂P·(2sξ + δ₀(1-2ξ)) + ∂D·a(1-2ξ) + ∂N·2(δ₁ξ + s(1-2ξ) - δ₀(1-ξ))
    ∂/∂s = ∂P·ξ² + ∂D·(1-2t) + ∂N·2t + 2 G_L/s
    ∂/∂h = G_y P/D + ∂s/w,  ∂/∂δ₀ = (∂P + ∂D) t + ∂N (1-ξ)²,  ∂/∂δ₁ = ∂D t + ∂N ξ²
    ∂/∂w = -(∂ξ ξ + ∂s s)/w,  ∂/∂x = ∂ξ/w,  ∂/∂x₀ = -∂ξ/w - ∂w,  ∂/∂x₁ = ∂w,  ∂/∂y₀ = G_y - ∂h,  ∂/∂y₁ = ∂h

the knot gradients are scattered back into the (..., 3, K+1) knot table, and through its
parametrisation (``spline_knots.knot_table``): with q_j = c_j / c_K (c = cumsum e, e = exp(raw - max),
C = 2B(1 - K min_width)), ∂q_j = C ∂x_j, ∂c_j = ∂q_j / c_K (and ∂c_K -= Σ_j ∂q_j q_j / c_K),
∂e_i = Σ_{j>=i} ∂c_j, ∂raw = ∂e e; interior derivatives δ = softplus(u) + min: ∂u = ∂δ σ(u).
Training a spline flow on small batches is bound by the number of tensor ops and autograd nodes, not
by arithmetic; one node for the whole map (~45 nodes before) makes an NSF step faster. A second derivative (``create_graph=True``) differentiates
the plain ops instead, so higher orders stay exact; under ``torch.func`` transforms the plain ops are used.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .spline_knots import bin_index, bin_params, knot_table, log_slope


def rq_forward(x: Tensor, params: Tensor, bound: float, min_width: float, min_derivative: float) -> tuple[Tensor, Tensor]:
    """``(y, log|dy/dx|)`` for inputs ``x`` inside [-B, B] and spline parameters (*x.shape, 3K - 1)."""
    if torch.is_grad_enabled() and torch._C._functorch.peek_interpreter_stack() is None \
            and (x.requires_grad or params.requires_grad):
        return _RQForward.apply(x, params, bound, min_width, min_derivative)
    return _plain(x, params, bound, min_width, min_derivative)[:2]


def _plain(x: Tensor, params: Tensor, bound: float, min_width: float, min_derivative: float):
    table, knot_parts = knot_table(params, bound, min_width, min_derivative)
    idx = bin_index(table, x, False)
    x0, y0, d0, w, h, d1, s, a = bin_params(table, idx)
    xi = (x - x0) / w
    t, den, dnum, logdet = log_slope(xi, s, a, d0, d1)
    p = torch.addcmul(s * xi * xi, d0, t)
    y = torch.addcdiv(y0, h * p, den)
    return y, logdet, (idx, w, h, s, a, d0, d1, xi, t, den, p, dnum, *knot_parts)


class _RQForward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, params: Tensor, bound: float, min_width: float, min_derivative: float):
        y, logdet, parts = _plain(x, params, bound, min_width, min_derivative)
        ctx.save_for_backward(x, params, *parts)
        ctx.constants = (bound, min_width, min_derivative)
        return y, logdet

    @staticmethod
    def backward(ctx, gy: Tensor, gl: Tensor):
        x, params, idx, w, h, s, a, d0, d1, xi, t, den, p, dnum, e, cum, u = ctx.saved_tensors
        need_x, need_params = ctx.needs_input_grad[:2]
        if torch.is_grad_enabled():  # create_graph: differentiate the plain ops (exact higher orders)
            wrt = [v for v, need in ((x, need_x), (params, need_params)) if need]
            grads = iter(torch.autograd.grad(_plain(x, params, *ctx.constants)[:2], wrt, (gy, gl), create_graph=True))
            return (next(grads) if need_x else None, next(grads) if need_params else None, None, None, None)
        # the formulas of the module docstring, accumulated in place (no graph here: fewer, fused ops)
        r, one_minus = den.reciprocal(), 1 - xi
        u1 = one_minus - xi                                                      # 1 - 2ξ
        g_p = gy * h * r
        g_den = torch.addcmul(2 * gl, g_p, p).mul_(r).neg_()
        g_n = gl / dnum
        g_xi = g_p * torch.addcmul(d0 * u1, s, xi, value=2.0)
        g_xi.addcmul_(g_den * a, u1).addcmul_(g_n, torch.addcmul(d1 * xi, s, u1).addcmul_(d0, one_minus, value=-1.0), value=2.0)
        rw = w.reciprocal()
        g_x = g_xi * rw
        if not need_params:
            return g_x, None, None, None, None
        xi2 = xi * xi
        g_s = (g_p * xi2).addcmul_(g_den, 1 - 2 * t).addcmul_(g_n, t, value=2.0).add_(gl / s, alpha=2.0)
        g_h = torch.addcmul(g_s * rw, gy * p, r)
        g_w = torch.addcmul(g_xi * xi, g_s, s).mul_(rw)                          # -∂w
        src = torch.stack([g_w - g_x, g_w.neg(), gy - g_h, g_h, (g_p + g_den).mul_(t).addcmul_(g_n * one_minus, one_minus),
                           torch.addcmul(g_den * t, g_n, xi2)], -1).unflatten(-1, (3, 2))  # (..., 3, 2)
        bound, min_width, _ = ctx.constants
        k = e.shape[-1]
        g_table = torch.zeros((*idx.shape[:-1], k + 1), dtype=src.dtype, device=src.device).scatter_add_(-1, idx, src)
        total = cum[..., -1:]
        g_cum = g_table[..., :2, 1:] * (2 * bound * (1 - min_width * k)) / total      # ∂q / c_K
        g_cum[..., -1:] -= (g_cum * cum).sum(-1, keepdim=True) / total
        g_e = g_cum.sum(-1, keepdim=True) - g_cum.cumsum(-1) + g_cum               # suffix sums
        g_u = g_table[..., 2, 1:-1] * torch.sigmoid(u)
        g_params = torch.cat([(g_e * e).flatten(-2), g_u], -1)
        return (g_x if need_x else None), g_params, None, None, None
