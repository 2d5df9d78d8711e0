"""Masked linear layers and MADE, the masked autoencoder for distribution estimation.

Germain et al. 2015, "MADE: Masked Autoencoder for Distribution Estimation" (arXiv:1502.03509).

Every input feature d gets a *degree* m(d) (its position in the autoregressive order, 1-based).
Every hidden unit k gets a degree m(k) in [min m, max m - 1]. Connections are kept by masks

    input  -> hidden:  M[k, d] = 1  iff  m(k) >= m(d)
    hidden -> hidden:  M[k', k] = 1 iff  m(k') >= m(k)
    hidden -> output:  M[o, k] = 1  iff  m(o) >  m(k),   with m(o) = m(d) for the outputs of input d

so output o only sees inputs of strictly smaller degree: the network computes, in ONE pass, the
parameters of p(x_d | x_{<d}) for all d. Equal degrees are allowed (a block order): degrees
``[1, 1, 2, 2]`` give a coupling layer (outputs 3, 4 depend on inputs 1, 2; outputs 1, 2 on nothing).
Context features (class labels, conditioning vectors) have degree 0: everything sees them.

Each masked layer is a single ``F.linear`` with a (weight * mask) matrix, so a MADE costs exactly
as much as an MLP of the same size.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MaskedLinear(nn.Linear):
    """``y = x (W * M)^T + b`` with a fixed binary mask ``M`` of shape (out_features, in_features)."""

    def __init__(self, mask: Tensor, bias: bool = True):
        out_features, in_features = mask.shape
        super().__init__(in_features, out_features, bias=bias)
        self.register_buffer("mask", mask.to(self.weight.dtype), persistent=False)
        with torch.no_grad():  # rescale the init to the number of inputs actually connected
            fan_in = self.mask.sum(1, keepdim=True).clamp(min=1.0)
            self.weight.mul_((in_features / fan_in).sqrt())

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``mask``: another connectivity of the same shape for this call (MADE's orderings), else ``self.mask``."""
        return F.linear(x, self.weight * (self.mask if mask is None else mask), self.bias)


def hidden_degrees(order: Tensor, width: int, context: bool = False) -> Tensor:
    """Degrees of ``width`` hidden units, cycling through [min(order), max(order) - 1].

    With a context the range starts at ``min(order) - 1`` so that some units see only the context
    and the first outputs depend on it too. When every input has the same degree (and no context)
    there is nothing to condition on and the units get degree ``min(order) - 1``.
    """
    lo, hi = int(order.min()) - int(context), int(order.max()) - 1
    if hi < lo:
        return torch.full((width,), lo - 1, dtype=torch.long)
    return lo + torch.arange(width) % (hi - lo + 1)


def made_masks(order: Sequence[int] | Tensor, hidden_features: Sequence[int], num_outputs_per_input: int = 1,
               context_features: int = 0) -> list[Tensor]:
    """The binary masks of a MADE: one (out, in) mask per layer, context columns first."""
    order = torch.as_tensor(order, dtype=torch.long)
    in_deg = torch.cat([torch.zeros(context_features, dtype=torch.long), order])
    masks, prev = [], in_deg
    for width in hidden_features:
        deg = hidden_degrees(order, width, context_features > 0)
        masks.append((deg[:, None] >= prev[None, :]).float())
        prev = deg
    out_deg = order.repeat_interleave(num_outputs_per_input)  # output o = d * k + i belongs to input d
    masks.append((out_deg[:, None] > prev[None, :]).float())
    return masks


class MADE(nn.Module):
    """Masked autoencoder: ``x (..., D) [, context (..., C)] -> params (..., D, k)``.

    Args:
        features: D, the number of autoregressive inputs.
        hidden_features: widths of the hidden layers, e.g. ``(64, 64)``.
        num_outputs_per_input: k, parameters per input (2 for an affine MAF, 3K-1 for a spline).
        context_features: C, extra inputs every output may see (degree 0).
        order: degree of each input (default ``1..D``); any permutation, or repeated values for
            block (coupling) orders. Output d depends only on inputs with a smaller degree.
        activation: the nonlinearity class between layers.

    ``forward`` returns shape ``(..., D, k)``: ``out[..., d, :]`` are the parameters of input d.
    """

    def __init__(self, features: int, hidden_features: Sequence[int] = (64, 64), num_outputs_per_input: int = 1,
                 context_features: int = 0, order: Sequence[int] | Tensor | None = None,
                 activation: type[nn.Module] = nn.ReLU):
        super().__init__()
        order = torch.arange(1, features + 1) if order is None else torch.as_tensor(order, dtype=torch.long)
        if order.shape != (features,):
            raise ValueError(f"MADE order must have {features} entries, got {tuple(order.shape)}")
        self.features, self.context_features, self.k = features, context_features, num_outputs_per_input
        self.register_buffer("order", order.clone(), persistent=False)
        masks = made_masks(order, hidden_features, num_outputs_per_input, context_features)
        layers: list[nn.Module] = []
        for i, mask in enumerate(masks):
            if i:
                layers.append(activation())
            layers.append(MaskedLinear(mask))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        if self.context_features:
            if context is None:
                raise ValueError(f"this MADE needs a context of {self.context_features} features")
            x = torch.cat([context.expand(*x.shape[:-1], -1), x], dim=-1)
        return self.net(x).unflatten(-1, (self.features, self.k))

    @property
    def num_steps(self) -> int:
        """Sequential passes needed to invert: one per distinct degree."""
        return int(torch.unique(self.order).numel())
