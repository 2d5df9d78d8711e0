"""Exponential moving average of a model's weights (Polyak averaging).

After every optimiser step t (1-based) each floating-point parameter and buffer theta is tracked by

    theta_ema <- d_t * theta_ema + (1 - d_t) * theta,     d_t = min(decay, (1 + t) / (10 + t))

The warm-up of ``d_t`` (as in timm / diffusers) keeps short runs from being dominated by the
initial weights. The averaged weights are the ones used for sampling and evaluation
(Polyak & Juditsky, 1992; Karras et al., 2018).
"""
from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn


class EMA:
    """Shadow copies of ``model``'s floating-point parameters and buffers."""

    def __init__(self, model: nn.Module, decay: float = 0.999):
        if not 0.0 <= decay < 1.0:
            from ..errors import ConfigError

            raise ConfigError(f"ema_decay={decay} must be in [0, 1); use None to disable the EMA")
        self.model, self.decay = model, decay
        # the live tensors are resolved once: optimizers, BatchNorm and ActNorm update them in place
        # (a buffer re-assigned to a new tensor object during training would not be seen)
        self._live: dict[str, Tensor] = self._tracked()
        self.shadow: dict[str, Tensor] = {name: t.detach().clone() for name, t in self._live.items()}
        self._pairs = ([self.shadow[n] for n in self._live], list(self._live.values()))

    def _tracked(self) -> dict[str, Tensor]:
        """Trainable floating-point parameters and buffers by name (tied tensors appear once)."""
        named = {n: p for n, p in self.model.named_parameters() if p.requires_grad}  # frozen ones never change
        named.update((n, b) for n, b in self.model.named_buffers() if b.is_floating_point())
        return {n: t for n, t in named.items() if t.is_floating_point()}

    def decay_at(self, step: int) -> float:
        return min(self.decay, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Blend in the current weights after optimiser step ``step`` (1-based)."""
        if self.shadow:
            torch._foreach_lerp_(*self._pairs, 1.0 - self.decay_at(step))

    @torch.no_grad()
    def copy_to(self, model: nn.Module | None = None) -> None:
        """Overwrite the model's weights with the averaged ones."""
        current = dict((model or self.model).named_parameters())
        current.update((model or self.model).named_buffers())
        for n, t in self.shadow.items():
            current[n].copy_(t)

    @contextlib.contextmanager
    def swapped_in(self):
        """Temporarily run the model with the averaged weights (for sampling during training)."""
        backup = {n: t.detach().clone() for n, t in self._live.items()}
        self.copy_to()
        try:
            yield self.model
        finally:
            with torch.no_grad():
                for n, t in backup.items():
                    self._live[n].copy_(t)

    def state_dict(self) -> dict[str, Tensor]:
        return dict(self.shadow)

    def load_state_dict(self, tensors: dict[str, Tensor]) -> None:
        from ..errors import CheckpointError

        if set(tensors) != set(self.shadow):
            missing = sorted(set(self.shadow) ^ set(tensors))
            raise CheckpointError(f"EMA weights do not match the model (first mismatch: {missing[0]!r})")
        with torch.no_grad():
            for n, t in tensors.items():
                self.shadow[n].copy_(t)
