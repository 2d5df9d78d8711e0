"""Per-example clipping without per-example weight gradients (ghost clipping).

Every trainable parameter must live in a layer whose per-example gradient has a known form, read from
the layer's input and the gradient reaching its output (captured with forward hooks):

* ``nn.Linear`` (and MADE's ``MaskedLinear``: G_i ⊙ M, ``_MaskedFactor``) on example i with inputs a_i ∈ R^{T×in} and output gradients g_i ∈ R^{T×out}:
  G_i = g_iᵀ a_i, whose norm needs no G_i (the "ghost norm", Goodfellow 2015; Li et al. 2022):
  ||G_i||²_F = Σ_{t,s} (a_it · a_is)(g_it · g_is); bias Σ_t g_it.
* ``nn.Embedding`` with ids x_i and output gradients e_i: G_i = Σ_t onehot(x_it) e_itᵀ — the linear
  form with g = onehot(x) — so (g_it · g_is) = [x_it = x_is] and nothing of size V is built.
* Tied weights (GPT's token embedding = LM head): G_i is the sum of the layers' forms and
  ||Σ_j G_ij||² = Σ_{j,k} <G_ij, G_ik>, each inner product a T_j × T_k sum of the same kind
  (embedding ↔ linear: Σ_{t,s} g_is[x_it] (e_it · a_is)).
* ``nn.LayerNorm`` / ``RMSNorm``: per-example γ, β gradients Σ_t g_it ⊙ x̂_it, Σ_t g_it (B × d, built).
* ``genzoo.nn.batch_expand.BatchExpand``: a shared parameter broadcast to the batch; row i of the
  gradient at its output is example i's gradient.

The clipped sum is one product per layer from the same stored factors (book-keeping, Bu et al. 2023):
Σ_i c_i G_i = (c ⊙ g)ᵀ a with c_i = min(1, C/||∇_i||). One forward and one backward to the layer
outputs: about the cost of a plain step, against a batch of per-example gradients for ``vmap``.

The g above are gradients of the *batch* loss; they equal per-example gradients / B only if the
loss is the mean of per-example losses. ``PerExampleGrads`` (vmap) is exact by construction, so the
first DP step compares the two on a few examples and keeps this engine only if they agree.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.batch_expand import BatchExpand
from ..nn.made import MaskedLinear
from ..nn.transformer import RMSNorm

_WITH_PARAMS = (nn.Linear, MaskedLinear, nn.Embedding, nn.LayerNorm, RMSNorm)


def ghost_layers(model: nn.Module) -> list[nn.Module] | None:
    """The layers ghost clipping reads, or None if some trainable parameter lives where it cannot follow.

    A model with ``BatchExpand`` calls passes this check whatever its other parameters; the first
    step's comparison with the exact engine (``make_engine``) is the real test."""
    layers = [m for m in model.modules() if type(m) in _WITH_PARAMS
              and any(p.requires_grad for p in m.parameters(recurse=False))]
    expands = [m for m in model.modules() if type(m) is BatchExpand]
    covered = {id(p) for m in layers for p in m.parameters(recurse=False)}
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable or not (expands or all(id(p) in covered for p in trainable)):
        return None
    if any(type(m) is nn.Embedding and (m.max_norm is not None or m.scale_grad_by_freq or m.sparse) for m in layers):
        return None
    return layers + expands


class _Factor:
    """One layer call's share of a weight's per-example gradient: G_i = Σ_t row_it colᵀ_it, where the
    rows are dense vectors g (B, T, out) or token ids (B, T) standing for one-hot vectors."""

    def __init__(self, rows: Tensor, cols: Tensor):
        self.rows, self.cols = rows, cols
        self.ids = not rows.is_floating_point()

    def row_gram(self, other: _Factor) -> Tensor:
        """(B, T, T') of row_it · row'_is."""
        if self.ids and other.ids:
            return (self.rows[:, :, None] == other.rows[:, None, :]).to(self.cols.dtype)
        if other.ids:  # g_it[x'_is]
            return self.rows.gather(2, other.rows[:, None, :].expand(-1, self.rows.shape[1], -1))
        if self.ids:
            return other.row_gram(self).transpose(1, 2)
        return self.rows @ other.rows.transpose(1, 2)

    def inner(self, other: _Factor) -> Tensor:
        """<G_i, G'_i> per example."""
        return (self.row_gram(other) * (self.cols @ other.cols.transpose(1, 2))).sum((1, 2))

    def sq_norm(self) -> Tensor:
        t, fan_out, fan_in = self.cols.shape[1], (0 if self.ids else self.rows.shape[2]), self.cols.shape[2]
        if t == 1 and not self.ids:
            return self.rows[:, 0].pow(2).sum(1) * self.cols[:, 0].pow(2).sum(1)
        if self.ids or t * t <= fan_in * fan_out:
            return self.inner(self)
        return torch.einsum("bto,bti->boi", self.rows, self.cols).pow(2).sum((1, 2))

    def clipped_sum(self, c: Tensor, shape: torch.Size) -> Tensor:
        cols = self.cols * c[:, None, None]
        if self.ids:
            flat = cols.reshape(-1, cols.shape[-1])
            return flat.new_zeros(shape).index_add_(0, self.rows.reshape(-1), flat)
        return torch.einsum("bto,bti->oi", self.rows, cols)


class _MaskedFactor(_Factor):
    """A masked linear layer (MADE): G_i = (g_iᵀ a_i) ⊙ M. With one row per example (T = 1)
    ||G_i||² = (g_i²)ᵀ M (a_i²) needs no G_i; otherwise G_i is built."""

    def __init__(self, rows: Tensor, cols: Tensor, mask: Tensor):
        super().__init__(rows, cols)
        self.mask = mask.to(cols.dtype)

    def inner(self, other: _Factor) -> Tensor:
        raise NotImplementedError("ghost clipping: a masked weight shared with another layer")

    def sq_norm(self) -> Tensor:
        if self.cols.shape[1] == 1:
            return ((self.rows[:, 0].pow(2) @ self.mask) * self.cols[:, 0].pow(2)).sum(1)
        return (torch.einsum("bto,bti->boi", self.rows, self.cols) * self.mask).pow(2).sum((1, 2))

    def clipped_sum(self, c: Tensor, shape: torch.Size) -> Tensor:
        return super().clipped_sum(c, shape) * self.mask


def _contributions(module: nn.Module, inputs: tuple, g: Tensor, size: int) -> list[tuple[Tensor, object]]:
    """(parameter, _Factor or dense per-example gradient (B, *shape)) pairs of one layer call."""
    if type(module) is BatchExpand:
        return [(inputs[0], g.reshape(size, *inputs[0].shape))]
    if type(module) is nn.Embedding:
        ids = inputs[0].reshape(size, -1)
        g = g.reshape(size, ids.shape[1], -1)
        if module.padding_idx is not None:  # torch gives the padding row no gradient
            g = g * (ids != module.padding_idx).unsqueeze(-1)
        return [(module.weight, _Factor(ids, g))]
    x = inputs[0].detach()
    if type(module) in (nn.Linear, MaskedLinear):
        a, g = x.reshape(size, -1, x.shape[-1]), g.reshape(size, -1, g.shape[-1])
        if type(module) is MaskedLinear:
            mask = inputs[1] if len(inputs) > 1 and inputs[1] is not None else module.mask
            out = [(module.weight, _MaskedFactor(g, a, mask))]
        else:
            out = [(module.weight, _Factor(g, a))]
        return out + ([(module.bias, g.sum(1))] if module.bias is not None else [])
    if type(module) is nn.LayerNorm:
        shape = module.normalized_shape
        normed = F.layer_norm(x, shape, None, None, module.eps)
    else:  # RMSNorm: x / sqrt(mean(x²) + eps) over the last dimension
        shape = module.weight.shape
        normed = F.rms_norm(x, shape, None, module.eps)
    dims = tuple(range(1, x.dim() - len(shape)))
    out = [(module.weight, (g * normed).sum(dims))] if module.weight is not None else []
    bias = getattr(module, "bias", None)
    return out + ([(bias, g.sum(dims))] if bias is not None else [])


class GhostClipping:
    """``clipped(batch, C) -> (loss, logs, [Σ_i c_i ∇_i per parameter], per-example norms)`` for models whose
    parameters ``ghost_layers`` covers (``model``: the module whose parameters train; ``loss_fn`` may run a
    larger one around it)."""

    name = "ghost"

    def __init__(self, model: nn.Module, loss_fn, layers: list[nn.Module]):
        self.loss_fn, self.layers = loss_fn, layers
        self.params = [p for p in model.parameters() if p.requires_grad]

    def _capture(self, batch):
        calls: list[tuple[nn.Module, tuple, Tensor]] = []

        def hook(module, inputs, output):
            calls.append((module, inputs, output))

        handles = [m.register_forward_hook(hook) for m in self.layers]
        try:
            out = self.loss_fn(batch)
        finally:
            for h in handles:
                h.remove()
        return out, calls

    def clipped(self, batch, max_norm: float):
        out, calls = self._capture(batch)
        mine = {id(p) for p in self.params}
        calls = [c for c in calls if type(c[0]) is not BatchExpand or id(c[1][0]) in mine]
        if not calls:
            raise NotImplementedError("ghost clipping: no supported layer ran")
        size = next(o.shape[0] for _, _, o in calls)
        grads = torch.autograd.grad(out["loss"], [o for _, _, o in calls], allow_unused=True)
        parts: dict[int, list] = {}
        for (m, inputs, o), g in zip(calls, grads):
            g = torch.zeros_like(o) if g is None else g * size  # batch-mean loss -> per-example gradients
            for p, part in _contributions(m, inputs, g, size):
                if p.requires_grad:
                    parts.setdefault(id(p), []).append(part)
        if set(parts) != mine:
            raise NotImplementedError("ghost clipping: a trainable parameter is used outside the supported layers")
        sq = 0.0
        for group in parts.values():
            sq = sq + _sq_norm(group)
        norms = sq.sqrt()
        c = (max_norm / (norms + 1e-6)).clamp(max=1.0)
        sums = [_clipped_sum(parts[id(p)], c, p.shape) for p in self.params]
        extra = {k: v.detach() for k, v in out.items() if k != "loss" and isinstance(v, Tensor) and v.dim() == 0}
        return out["loss"].detach(), extra, sums, norms


def _sq_norm(group: list) -> Tensor:
    """||Σ_j G_ij||² per example for one parameter's contributions (all factors, or all dense)."""
    factors = [p for p in group if isinstance(p, _Factor)]
    if factors and len(factors) < len(group):
        raise NotImplementedError("ghost clipping: a weight used both as a layer weight and directly")
    if not factors:
        return sum(group).flatten(1).pow(2).sum(1)
    total = sum(f.sq_norm() for f in factors)
    for j in range(len(factors)):
        for k in range(j + 1, len(factors)):
            total = total + 2 * factors[j].inner(factors[k])
    return total


def _clipped_sum(group: list, c: Tensor, shape: torch.Size) -> Tensor:
    if isinstance(group[0], _Factor):
        return sum(f.clipped_sum(c, shape) for f in group)
    return torch.einsum("b...,b->...", sum(group), c)
