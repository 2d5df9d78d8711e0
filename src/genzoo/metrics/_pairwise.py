"""Blocked pairwise squared distances: never more than one (block × M) matrix in memory."""
from __future__ import annotations

from collections.abc import Iterator

from torch import Tensor

BLOCK_BYTES = 64 * 2**20  # one distance block: 64 MiB


def row_blocks(n_rows: int, n_cols: int, element_size: int = 4, block_bytes: int = BLOCK_BYTES) -> Iterator[slice]:
    """Slices over ``n_rows`` so that a (rows × n_cols) block stays within ``block_bytes``."""
    step = max(1, block_bytes // max(1, n_cols * element_size))
    for start in range(0, n_rows, step):
        yield slice(start, min(n_rows, start + step))


def squared_norms(x: Tensor) -> Tensor:
    return x.square().sum(1)


def sq_dists(a: Tensor, b: Tensor, a_sq: Tensor | None = None, b_sq: Tensor | None = None) -> Tensor:
    """||aᵢ - bⱼ||² = ||aᵢ||² + ||bⱼ||² - 2 aᵢᵀbⱼ as one GEMM, clipped at 0 (round-off)."""
    a_sq = squared_norms(a) if a_sq is None else a_sq
    b_sq = squared_norms(b) if b_sq is None else b_sq
    d2 = (a @ b.T).mul_(-2).add_(a_sq[:, None]).add_(b_sq[None, :])
    return d2.clamp_min_(0)
