"""Fully sharded data parallelism (FSDP2, ``torch.distributed.fsdp.fully_shard``) for the Trainer.

Each rank keeps 1/world of every parameter, gradient, optimizer state and EMA tensor; a block's
full weights exist only while it runs (all-gathered before its forward and backward, gradients
reduce-scattered after). Units: every element of every ``nn.ModuleList`` (a GPT's blocks, a
U-Net's resnets and attentions) and, around the rest, ``LossModule(model)``, so that ``model.loss``
is the root's forward. The run's files keep the ordinary single-file layout: the tensors are
gathered (every rank takes part, rank 0 writes) into a plain CPU copy of the model that saves,
samples and checkpoints exactly as in a one-process run; resuming splits them again.
"""
from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .distributed import LossModule


def _dtensor():
    from torch.distributed.tensor import DTensor

    return DTensor


def full(t: Tensor) -> Tensor:
    """The whole tensor of a shard (collective: every rank calls it in the same order)."""
    return t.full_tensor() if isinstance(t, _dtensor()) else t


def shard_like(value: Tensor, like: Tensor) -> Tensor:
    """``value`` (a whole tensor) split as ``like`` is: this rank's shard, or ``value`` unchanged."""
    if not isinstance(like, _dtensor()):
        return value
    from torch.distributed.tensor import distribute_tensor

    return distribute_tensor(value.to(device=like.device, dtype=like.dtype), like.device_mesh, like.placements)


class ShardedModel:
    """``model`` sharded in place; ``loss(batch)`` runs it, ``gathered()`` gives a whole copy."""

    def __init__(self, model: nn.Module, device: torch.device, loss=None):
        from torch.distributed.fsdp import fully_shard

        if getattr(model, "manual_optimization", False):
            raise ConfigError(f"--fsdp shards families trained through model.loss; {model.model_type} steps its own "
                              "optimizers (GAN, EBM): train it data-parallel without --fsdp")
        self.model = model
        self.plain = copy.deepcopy(model).cpu()  # what rank 0 saves and samples with
        for module in reversed(list(model.modules())):  # inner units first: an outer one takes what is left
            if isinstance(module, nn.ModuleList):
                for block in module:
                    if any(p.requires_grad for p in block.parameters()):
                        fully_shard(block)
        self.root = LossModule(model, loss)  # ``loss``: the Trainer's objective, default model.loss
        fully_shard(self.root)

    def loss(self, batch):
        return self.root(batch)

    @torch.no_grad()
    def full_state(self) -> dict[str, Tensor]:
        """The model's whole ``state_dict`` on every rank (CPU)."""
        return {k: full(v).detach().cpu() for k, v in self.model.state_dict().items()}

    @torch.no_grad()
    def gathered(self, ema_tensors: dict[str, Tensor] | None = None) -> nn.Module:
        """The plain copy holding the current weights (or, with ``ema_tensors``, the EMA's)."""
        state = self.full_state()
        if ema_tensors is not None:
            state.update({k: full(v).cpu() for k, v in ema_tensors.items()})
        self.plain.load_state_dict(state)
        return self.plain

    @torch.no_grad()
    def load_full_state(self, tensors: dict[str, Tensor]) -> None:
        """Put whole tensors (a checkpoint's) into the sharded model."""
        for k, v in self.model.state_dict().items():
            if k in tensors:
                local = shard_like(tensors[k], v)
                (v.to_local() if isinstance(v, _dtensor()) else v).copy_(
                    local.to_local() if isinstance(local, _dtensor()) else local)
