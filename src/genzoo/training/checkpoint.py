"""Resumable checkpoints without pickle: safetensors for tensors, JSON for everything else.

``OUT/checkpoint/`` (written atomically: temp dir, then ``os.replace``) holds

- ``trainer_state.json``  step, epoch, position in the epoch's permutation, the run's settings,
  the scheduler states and the non-tensor part of every optimizer state;
- ``model.safetensors``  raw (not averaged) weights;  ``ema.safetensors``  the EMA weights;
- ``optimizer.safetensors``  the optimizer state tensors, keyed ``"{opt}.{param}.{name}"``;
- ``rng.safetensors``  torch's global RNG state (and CUDA's), the data-order generator state and the
  current epoch's permutation;
- ``extra.safetensors``  ``model.extra_state_tensors()`` (e.g. an EBM replay buffer).
"""
from __future__ import annotations


from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import CheckpointError
from ..serialization import atomic_dir, load_tensors, read_json, save_tensors, write_json

CHECKPOINT_DIR = "checkpoint"
STATE_NAME = "trainer_state.json"


# --- optimizer state <-> (tensors, JSON) ---------------------------------------------------
def optimizer_to_tensors(optimizers: list[torch.optim.Optimizer], whole=None) -> tuple[dict[str, Tensor], list[dict]]:
    """Split optimizer ``state_dict``s into a flat tensor dict and a JSON-able description
    (``whole``: maps a sharded state tensor to the whole tensor, ``fsdp.full``)."""
    tensors: dict[str, Tensor] = {}
    described = []
    for i, opt in enumerate(optimizers):
        sd = opt.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for pid, entry in sd["state"].items():
            for name, value in entry.items():
                if isinstance(value, Tensor):
                    tensors[f"{i}.{pid}.{name}"] = (whole(value) if whole else value).detach().cpu().contiguous()
                else:
                    scalars.setdefault(str(pid), {})[name] = value
        described.append({"param_groups": sd["param_groups"], "scalars": scalars})
    return tensors, described


def optimizer_from_tensors(optimizers: list[torch.optim.Optimizer], tensors: dict[str, Tensor],
                           described: list[dict], source, shard=None) -> None:
    """Inverse of :func:`optimizer_to_tensors`; loads each optimizer in place (``shard(value, param)``
    splits a whole state tensor as its parameter is split, ``fsdp.shard_like``)."""
    if len(described) != len(optimizers):
        raise CheckpointError(f"{source}: checkpoint has {len(described)} optimizers, the model configures {len(optimizers)}")
    for i, (opt, desc) in enumerate(zip(optimizers, described)):
        state: dict[int, dict[str, Any]] = {}
        params = [p for group in opt.param_groups for p in group["params"]]
        for key, value in tensors.items():
            o, pid, name = key.split(".", 2)
            if int(o) == i:
                param = params[int(pid)] if int(pid) < len(params) else None
                if shard is not None and param is not None and tuple(value.shape) == tuple(param.shape):
                    value = shard(value, param)
                state.setdefault(int(pid), {})[name] = value
        for pid, entries in desc["scalars"].items():
            state.setdefault(int(pid), {}).update(entries)
        fresh_groups = opt.state_dict()["param_groups"]
        if len(fresh_groups) != len(desc["param_groups"]):
            raise CheckpointError(f"{source}: optimizer {i} has {len(desc['param_groups'])} parameter groups, the model has {len(fresh_groups)}")
        groups = [_restore_tuples(saved, fresh) for saved, fresh in zip(desc["param_groups"], fresh_groups)]
        try:
            opt.load_state_dict({"state": state, "param_groups": groups})
        except (ValueError, KeyError, RuntimeError) as e:
            raise CheckpointError(f"{source}: optimizer {i} state does not match the model ({e})") from None


def _restore_tuples(saved: dict, fresh: dict) -> dict:
    """JSON turns tuples (``betas``) into lists; give them back their original type."""
    return {k: tuple(v) if isinstance(fresh.get(k), tuple) and isinstance(v, list) else v for k, v in saved.items()}


# --- the checkpoint directory ----------------------------------------------------------------
def save_checkpoint(path, *, state: dict, model: torch.nn.Module, ema_tensors: dict[str, Tensor] | None,
                    optimizers: list[torch.optim.Optimizer] | tuple[dict, list], rng: dict[str, Tensor],
                    extra: dict[str, Tensor]) -> None:
    """Write the whole resumable state to ``path`` atomically (``optimizers``: the optimizers, or
    their ``optimizer_to_tensors`` already taken)."""
    from ..serialization import state_dict_for_saving

    opt_tensors, opt_desc = optimizers if isinstance(optimizers, tuple) else optimizer_to_tensors(optimizers)
    with atomic_dir(path) as tmp:
        save_tensors({k: v.cpu() for k, v in state_dict_for_saving(model).items()}, tmp / "model.safetensors")
        if ema_tensors is not None:
            save_tensors({k: v.cpu() for k, v in ema_tensors.items()}, tmp / "ema.safetensors")
        save_tensors(opt_tensors, tmp / "optimizer.safetensors")
        save_tensors({k: v.cpu() for k, v in rng.items()}, tmp / "rng.safetensors")
        save_tensors({k: v.cpu() for k, v in extra.items()}, tmp / "extra.safetensors")
        write_json(tmp / STATE_NAME, {**state, "optimizers": opt_desc})


def find_checkpoint(out) -> Path | None:
    """``OUT/checkpoint``, or the previous one if a crash hit between the two renames of a save."""
    out = Path(out)
    path = out / CHECKPOINT_DIR
    if (path / STATE_NAME).is_file():
        return path
    olds = sorted(out.glob(f".{CHECKPOINT_DIR}.old-*"), key=lambda p: p.stat().st_mtime, reverse=True)
    return next((p for p in olds if (p / STATE_NAME).is_file()), None)


def load_checkpoint(path) -> dict[str, Any]:
    """Read a checkpoint directory: ``{"state", "model", "ema", "optimizer", "rng", "extra"}``."""
    path = Path(path)
    out = {"state": read_json(path / STATE_NAME)}
    for key in ("model", "optimizer", "rng", "extra"):
        out[key] = load_tensors(path / f"{key}.safetensors")
    ema = path / "ema.safetensors"
    out["ema"] = load_tensors(ema) if ema.is_file() else None
    return out
