"""Small helpers shared by every family: batch unpacking, seeded noise on any device."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def unpack_batch(batch) -> tuple[Tensor, Tensor | None]:
    """Return ``(x, y)`` from a Tensor, an ``(x, y)`` tuple/list or a ``{"x", "y"}`` dict."""
    if isinstance(batch, Tensor):
        return batch, None
    if isinstance(batch, dict):
        return batch["x"], batch.get("y")
    if isinstance(batch, (tuple, list)):
        return batch[0], (batch[1] if len(batch) > 1 else None)
    raise TypeError(f"cannot read a batch of type {type(batch).__name__}; pass a Tensor, (x, y) or dict")


def randn(shape: Sequence[int], *, generator: torch.Generator | None = None, device=None,
          dtype=torch.float32) -> Tensor:
    """Standard normal noise drawn on the generator's device, then moved: same seed, same numbers."""
    gen_device = generator.device if generator is not None else torch.device("cpu")
    return torch.randn(tuple(shape), generator=generator, device=gen_device, dtype=dtype).to(device or gen_device)


def rand(shape: Sequence[int], *, generator: torch.Generator | None = None, device=None,
         dtype=torch.float32) -> Tensor:
    """Uniform [0, 1) noise drawn on the generator's device, then moved."""
    gen_device = generator.device if generator is not None else torch.device("cpu")
    return torch.rand(tuple(shape), generator=generator, device=gen_device, dtype=dtype).to(device or gen_device)


def model_device(module: torch.nn.Module) -> torch.device:
    for p in module.parameters():
        return p.device
    for b in module.buffers():
        return b.device
    return torch.device("cpu")
