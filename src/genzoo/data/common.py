"""Helpers shared by the built-in datasets: split names, seeds, quantisation to [-1, 1]."""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import DataError

SPLITS = ("train", "test")
SEEDS = {"train": 0, "test": 1}  # every procedural set draws its train split with seed 0, test with 1


def check_split(name: str, split: str, valid: tuple[str, ...] = SPLITS) -> str:
    if split not in valid:
        raise DataError(f"dataset {name!r} has no split {split!r}; valid splits: {', '.join(valid)}")
    return split


def generator(split: str) -> torch.Generator:
    """The fixed torch generator a procedural dataset uses for ``split``."""
    return torch.Generator().manual_seed(SEEDS[split])


def to_unit(v: Tensor, levels: int) -> Tensor:
    """Integer levels ``v`` in {0..L-1} -> float32 ``2 v / (L - 1) - 1`` in [-1, 1]."""
    return (v.float() * (2.0 / (levels - 1)) - 1.0).float()


def binarise(x: Tensor) -> Tensor:
    """Images in [-1, 1] (N, C, H, W) -> one channel of -1/1: 1 where the brightest channel is at
    least half way (grey level v >= (L-1)/2, i.e. x >= 0)."""
    return torch.where(x.amax(dim=1, keepdim=True) >= 0, 1.0, -1.0).float()
