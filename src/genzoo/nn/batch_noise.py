"""Per-example noise that makes a data-parallel run reproduce the one-process run.

A loss that draws noise for its batch (diffusion's t and eps, a VAE's eps, a GAN's z) calls these
instead of ``torch.randn_like`` & co. Outside a data-parallel run they *are* those calls (same
numbers, same RNG consumption). Inside ``sharded(rank, world)`` -- the Trainer enters it on every
rank of a ``torch.distributed`` run, whose global RNGs are seeded alike -- a call for the rank's n
rows draws the global batch's ``world * n`` rows and returns rows ``rank*n : (rank+1)*n``: rank r
gets exactly the noise the one-process run gives the same examples (rank r holds global batch rows
``rank*n : (rank+1)*n``), and every rank's RNG stays in step, so rank 0's checkpoint resumes all ranks.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

_SHARD: tuple[int, int] | None = None  # (rank, world size) while a data-parallel step runs


@contextlib.contextmanager
def sharded(rank: int, world: int) -> Iterator[None]:
    """Draws inside the block are the rank's rows of the global batch's draws."""
    global _SHARD
    previous, _SHARD = _SHARD, ((rank, world) if world > 1 else None)
    try:
        yield
    finally:
        _SHARD = previous


def _rows(draw, n: int, rest: Sequence[int]) -> Tensor:
    if _SHARD is None:
        return draw((n, *rest))
    rank, world = _SHARD
    return draw((n * world, *rest))[rank * n:(rank + 1) * n]


def batch_randn(n: int, *rest: int, device=None, dtype=None) -> Tensor:
    """N(0, I) noise of shape (n, *rest), n = the (local) batch size."""
    return _rows(lambda shape: torch.randn(shape, device=device, dtype=dtype), n, rest)


def batch_randn_like(x: Tensor) -> Tensor:
    """``torch.randn_like(x)`` for a batch ``x``."""
    return batch_randn(x.shape[0], *x.shape[1:], device=x.device, dtype=x.dtype)


def batch_rand(n: int, *rest: int, device=None, dtype=None) -> Tensor:
    """U[0, 1) noise of shape (n, *rest)."""
    return _rows(lambda shape: torch.rand(shape, device=device, dtype=dtype), n, rest)


def batch_rand_like(x: Tensor) -> Tensor:
    """``torch.rand_like(x)`` for a batch ``x``."""
    return batch_rand(x.shape[0], *x.shape[1:], device=x.device, dtype=x.dtype)


def batch_randint(low: int, high: int, n: int, *rest: int, device=None) -> Tensor:
    """Integers in [low, high) of shape (n, *rest)."""
    return _rows(lambda shape: torch.randint(low, high, shape, device=device), n, rest)


def global_batch(x: Tensor) -> Tensor:
    """The whole global batch of a per-example tensor (rank order = row order of the one-process
    batch); ``x`` itself outside a data-parallel run. For what a loss computes from the whole batch
    beyond its gradient: batch statistics, an EBM's replay-buffer writes."""
    if _SHARD is None:
        return x
    import torch.distributed as dist

    parts = [torch.empty_like(x) for _ in range(_SHARD[1])]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)
