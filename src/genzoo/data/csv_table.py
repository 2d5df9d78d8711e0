"""``csv:PATH``: a user's numeric table (one example per row) as a 2-D or tabular dataset.

Two columns give ``kind="2d"``; more give ``kind="tabular"``. A header row is skipped when it is
not numeric. Rows are split 80/20 into train/test by a permutation with a fixed seed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from ..registry import register_dataset
from .base import GenDataset

SPLITS = ("train", "test")


@register_dataset("csv:")
def csv_table(path: str, split: str = "train", delimiter: str = ",", seed: int = 0) -> GenDataset:
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} for csv:{path}; use one of {', '.join(SPLITS)}")
    file = Path(path)
    if not file.is_file():
        raise DataError(f"csv:{path}: no such file")
    try:
        table = np.genfromtxt(file, delimiter=delimiter, dtype=np.float64)
    except ValueError as e:
        raise DataError(f"csv:{path}: rows have different numbers of columns ({e}); fix the file") from None
    if table.ndim == 1:
        table = table[:, None] if table.size and not np.isnan(table[0]) else table[None]
    if len(table) and np.isnan(table[0]).all():
        table = table[1:]  # header
    if table.size == 0 or table.ndim != 2:
        raise DataError(f"csv:{path}: no numeric rows found")
    if not np.isfinite(table).all():
        row = int(np.argwhere(~np.isfinite(table))[0][0]) + 1
        raise DataError(f"csv:{path}: NaN, infinite or non-numeric value in data row {row}; clean the file first")
    order = np.random.default_rng(seed).permutation(len(table))
    cut = int(0.8 * len(table))
    rows = order[:cut] if split == "train" else order[cut:]
    x = torch.tensor(table[rows], dtype=torch.float32)
    return GenDataset(f"csv:{path}", split, "2d" if x.shape[1] == 2 else "tabular", x)
