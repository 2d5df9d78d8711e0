"""Blocked pairwise squared distances: never more than one (block × M) matrix in memory.

||aᵢ - bⱼ||² = ||aᵢ||² + ||bⱼ||² - 2 aᵢᵀbⱼ is one GEMM of augmented rows
[-2aᵢ, ||aᵢ||², 1] · [bⱼ, 1, ||bⱼ||²]: no extra passes over the (block × M) result.
A set is stored once in the right-hand form ``augment(x)``; left blocks are built from it.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

BLOCK_BYTES = 32 * 2**20  # one distance block: 32 MiB


def row_blocks(n_rows: int, n_cols: int, element_size: int = 4, block_bytes: int = BLOCK_BYTES) -> Iterator[slice]:
    """Slices over ``n_rows`` so that a (rows × n_cols) block stays within ``block_bytes``."""
    step = max(1, block_bytes // max(1, n_cols * element_size))
    for start in range(0, n_rows, step):
        yield slice(start, min(n_rows, start + step))


def augment(x: Tensor, centre: Tensor | None = None) -> Tensor:
    """(N, D+2) rows [xᵢ - c, 1, ||xᵢ - c||²] (centring reduces float32 cancellation)."""
    n, d = x.shape
    out = torch.empty(n, d + 2, dtype=x.dtype, device=x.device)
    for rows in row_blocks(n, d, x.element_size()):  # no full-size temporaries
        block = out[rows, :d]
        torch.sub(x[rows], centre, out=block) if centre is not None else block.copy_(x[rows])
        out[rows, d + 1] = block.square().sum(1)
    out[:, d] = 1
    return out


def sq_dists(left: Tensor, right: Tensor) -> Tensor:
    """(len(left), len(right)) squared distances between rows of two ``augment``-ed sets."""
    d = right.shape[1] - 2
    lhs = torch.cat([left[:, :d] * -2, left[:, d + 1:], left[:, d:d + 1]], 1)
    return lhs @ right.T
