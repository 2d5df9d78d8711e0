"""Per-example gradient engines for DP-SGD: ``clipped(batch, C) -> (loss, logs, Σ_i clip_C(g_i), ||g_i||)``.

``PerExampleGrads`` differentiates the loss on a batch of one example, for every example at once
(``torch.func``: ``vmap(grad(...), randomness="different")``, as Opacus' functorch grad sampler), or
in a loop when the loss cannot be traced by vmap; ``ghost.GhostClipping`` needs no per-example
weight gradients for models of linear, embedding and normalisation layers. ``make_engine`` picks one at the first DP step (docs/privacy.md).
"""
from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn
from torch.utils import _pytree as pytree


def _rng_state():
    """torch's CPU RNG state and, once CUDA is in use, every GPU's (the loss's noise comes from them)."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    return torch.get_rng_state(), cuda


def _set_rng_state(state) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state_all(state[1])


class _LossOf(nn.Module):
    """``forward(batch) = loss_fn(batch)``: lets ``functional_call`` swap the model's parameters under any loss."""

    def __init__(self, model: nn.Module, loss_fn):
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, batch):
        return self.loss_fn(batch)


def _scalar_logs(out: dict) -> tuple[Tensor, dict[str, Tensor]]:
    loss = out["loss"]
    return loss, (loss.detach(), {k: v.detach() for k, v in out.items()
                                  if k != "loss" and isinstance(v, Tensor) and v.dim() == 0})


class PerExampleGrads:
    """``(losses[B], logs, [grads[B, *shape] per trainable parameter])`` of a loss on a batch, one example at a time."""

    def __init__(self, model: nn.Module, loss_fn, part: nn.Module | None = None):
        self.wrapped = _LossOf(model, loss_fn)  # ``part``: the submodule whose parameters are trained (GAN: D)
        mine = {id(p) for p in (part or model).parameters() if p.requires_grad}
        named = [(f"model.{n}", p) for n, p in model.named_parameters() if id(p) in mine]
        self.names, self.params = [n for n, _ in named], [p for _, p in named]
        self.vectorised: bool | None = None  # decided at the first step: vmap, or the loop

    @property
    def name(self) -> str:
        return "loop" if self.vectorised is False else "vmap"

    def clipped(self, batch, max_norm: float):
        """(losses, logs, [Σ_i clip_C(g_i) per parameter], per-example norms)."""
        losses, extra, grads = self(batch)
        return (losses, extra, *clipped_sum(grads, max_norm))

    def __call__(self, batch):
        if self.vectorised is not False:
            rng = _rng_state()
            try:
                result = self._vmap(batch)
                self.vectorised = True
                return result
            except Exception as e:  # noqa: BLE001 - any trace failure: the loop computes the same thing
                if self.vectorised:
                    raise
                _set_rng_state(rng)  # the loop draws what a fresh start would: resume stays exact
                self.vectorised = False
                warnings.warn(f"genzoo: per-example gradients by a loop over examples (vmap failed: "
                              f"{type(e).__name__}: {str(e).splitlines()[0][:120]})", stacklevel=3)
        return self._loop(batch)

    def _vmap(self, batch):
        from torch.func import functional_call, grad, vmap

        def one(params, example):
            single = pytree.tree_map(lambda t: t.unsqueeze(0) if isinstance(t, Tensor) else t, example)
            return _scalar_logs(functional_call(self.wrapped, params, (single,)))

        dims = pytree.tree_map(lambda t: 0 if isinstance(t, Tensor) else None, batch)
        params = {n: p.detach() for n, p in zip(self.names, self.params)}
        grads, (losses, logs) = vmap(grad(one, has_aux=True), in_dims=(None, dims), randomness="different")(params, batch)
        return losses, logs, [grads[n] for n in self.names]

    def _loop(self, batch):
        size = len(pytree.tree_leaves(batch)[0])
        losses, logs, grads = [], [], []
        buffers = [b for b in self.wrapped.buffers() if b.is_floating_point() or b.dtype in (torch.long, torch.int)]
        before = [b.clone() for b in buffers]
        for i in range(size):
            for b, saved in zip(buffers, before if i else ()):  # a loss that counts steps (VAE KL warm-up)
                b.copy_(saved)                                   # counts one per batch, not one per example
            example = pytree.tree_map(lambda t: t[i:i + 1] if isinstance(t, Tensor) else t, batch)
            loss, (value, extra) = _scalar_logs(self.wrapped(example))
            grads.append(torch.autograd.grad(loss, self.params, allow_unused=True))
            losses.append(value)
            logs.append(extra)
        stacked = [torch.stack([g if g is not None else torch.zeros_like(p) for g in gs])
                   for p, gs in zip(self.params, zip(*grads))]
        return torch.stack(losses), {k: torch.stack([e[k] for e in logs]) for k in logs[0]}, stacked


def clipped_sum(grads: list[Tensor], max_norm: float) -> tuple[list[Tensor], Tensor]:
    """Σ_i g_i · min(1, C/||g_i||) per parameter, and the per-example norms ||g_i|| (before clipping)."""
    norms = torch.stack([g.flatten(1).norm(dim=1) for g in grads], dim=1).norm(dim=1)
    factor = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    return [torch.einsum("i,i...->...", factor, g) for g in grads], norms


def make_engine(model: nn.Module, loss_fn, batch, max_norm: float, name: str | None = None,
                part: nn.Module | None = None):
    """Ghost clipping (``ghost.py``) when every trainable weight is in a layer it reads and it agrees with
    vmap on the first examples of ``batch`` (same RNG, same buffers for both), else ``PerExampleGrads``.
    ``name`` (from a checkpoint) repeats the choice a run made, so a resumed run stays bit-identical.
    ``part``: only its parameters are clipped and noised (the GAN's discriminator)."""
    from .ghost import GhostClipping, ghost_layers

    exact, layers = PerExampleGrads(model, loss_fn, part), ghost_layers(part or model)
    if name == "loop":
        exact.vectorised = False
    if layers is None or name in ("vmap", "loop") or (batch is None and name != "ghost"):
        return exact
    ghost = GhostClipping(part or model, loss_fn, layers)
    if name == "ghost":
        return ghost
    probe = pytree.tree_map(lambda t: t[:8] if isinstance(t, Tensor) else t, batch)
    buffers = [(b, b.clone()) for b in model.buffers()]
    rng = _rng_state()
    try:
        fast = ghost.clipped(probe, max_norm)[3]
        _set_rng_state(rng)
        slow = exact.clipped(probe, max_norm)[3]
        agree = torch.allclose(fast, slow, rtol=1e-3, atol=1e-6)
    except Exception:  # noqa: BLE001 - a layer used in a way ghost.py cannot follow: the exact engine
        agree = False
    _set_rng_state(rng)
    for b, saved in buffers:
        b.copy_(saved)
    exact.vectorised = None  # the probe's decision is made again on the real batch
    return ghost if agree else exact
