"""Per-example clipping without per-example gradients, for models whose trainable weights are all ``nn.Linear``.

A linear layer called on example i with inputs a_i ∈ R^{T×in} (T rows: tokens, or several calls)
and output gradients g_i ∈ R^{T×out} has the per-example weight gradient G_i = g_iᵀ a_i, whose norm
needs no G_i (the "ghost norm", Goodfellow 2015; Li et al. 2022, "Large language models can be
strong differentially private learners"):

    ||G_i||²_F = Σ_{t,s} (a_it · a_is)(g_it · g_is)      (T = 1: ||a_i||² ||g_i||²),   ||∇b_i||² = ||Σ_t g_it||²

and the clipped sum is one product per layer from the same stored a, g (book-keeping, Bu et al.
2023): Σ_i c_i G_i = (c ⊙ g)ᵀ a with c_i = min(1, C/||∇_i||). One forward and one backward to the
layer outputs (no weight gradients, no B copies of the weights): about the cost of a plain step.

The g above are gradients of the *batch* loss; they equal per-example gradients / B only if the
loss is the mean of per-example losses. ``PerExampleGrads`` (vmap) is exact by construction, so the
first DP step compares the two on a few examples and keeps this engine only if they agree.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


def linear_layers(model: nn.Module) -> list[nn.Linear] | None:
    """The ``nn.Linear`` layers holding every trainable parameter, or None if some parameter lives elsewhere."""
    layers = [m for m in model.modules() if type(m) is nn.Linear and m.weight.requires_grad]
    covered = {id(p) for m in layers for p in m.parameters(recurse=False)}
    trainable = [p for p in model.parameters() if p.requires_grad]
    return layers if layers and all(id(p) in covered for p in trainable) else None


class GhostClipping:
    """``clipped(batch, C) -> (loss, logs, [Σ_i c_i ∇_i per parameter], per-example norms)`` for all-linear models
    (``model``: the module whose parameters train; ``loss_fn`` may run a larger one around it)."""

    name = "ghost"

    def __init__(self, model: nn.Module, loss_fn, layers: list[nn.Linear]):
        self.loss_fn, self.layers = loss_fn, layers
        self.params = [p for p in model.parameters() if p.requires_grad]

    def _capture(self, batch):
        calls: list[tuple[nn.Linear, Tensor, Tensor]] = []

        def hook(module, inputs, output):
            calls.append((module, inputs[0].detach(), output))

        handles = [m.register_forward_hook(hook) for m in self.layers]
        try:
            out = self.loss_fn(batch)
        finally:
            for h in handles:
                h.remove()
        return out, calls

    def clipped(self, batch, max_norm: float):
        out, calls = self._capture(batch)
        size = calls[0][1].shape[0]
        grads = torch.autograd.grad(out["loss"], [o for _, _, o in calls], allow_unused=True)
        per_layer: dict[nn.Linear, tuple[list[Tensor], list[Tensor]]] = {}
        for (m, a, o), g in zip(calls, grads):
            g = torch.zeros_like(o) if g is None else g * size  # batch-mean loss -> per-example gradients
            per_layer.setdefault(m, ([], []))
            per_layer[m][0].append(a.reshape(size, -1, a.shape[-1]))
            per_layer[m][1].append(g.reshape(size, -1, g.shape[-1]))
        stacked = {m: (torch.cat(a, 1), torch.cat(g, 1)) for m, (a, g) in per_layer.items()}
        sq = torch.zeros(size, device=calls[0][1].device)
        for m, (a, g) in stacked.items():
            sq = sq + _weight_sq_norms(a, g)
            if m.bias is not None:
                sq = sq + g.sum(1).pow(2).sum(1)
        norms = sq.sqrt()
        c = (max_norm / (norms + 1e-6)).clamp(max=1.0)
        sums = {}
        for m, (a, g) in stacked.items():
            cg = g * c[:, None, None]
            sums[m.weight] = torch.einsum("bto,bti->oi", cg, a)
            if m.bias is not None:
                sums[m.bias] = cg.sum((0, 1))
        extra = {k: v.detach() for k, v in out.items() if k != "loss" and isinstance(v, Tensor) and v.dim() == 0}
        return out["loss"].detach(), extra, [sums[p] for p in self.params], norms


def _weight_sq_norms(a: Tensor, g: Tensor) -> Tensor:
    """||g_iᵀ a_i||²_F per example: ghost norm when T² ≤ in·out, else the per-example product itself."""
    t, fan_in, fan_out = a.shape[1], a.shape[2], g.shape[2]
    if t == 1:
        return a[:, 0].pow(2).sum(1) * g[:, 0].pow(2).sum(1)
    if t * t <= fan_in * fan_out:
        return (a @ a.transpose(1, 2) * (g @ g.transpose(1, 2))).sum((1, 2))
    return torch.einsum("bto,bti->boi", g, a).pow(2).sum((1, 2))
