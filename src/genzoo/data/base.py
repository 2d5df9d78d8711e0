"""The dataset contract: an in-memory ``torch.utils.data.Dataset`` with metadata.

Every built-in dataset is small enough to live in memory, so a dataset is a tensor ``x`` of
examples (and optional labels ``y``) plus what models need to configure themselves:

- ``kind``: "2d" | "image" | "text" | "binary" | "tabular"
- ``shape``: the shape of one example (``(2,)``, ``(C, H, W)``, ``(block_size,)``)
- ``levels``: number of discrete values per dimension for quantised data (digits: 17, *-bin: 2),
  ``None`` for continuous data. Images are floats in [-1, 1]: value v in {0..L-1} is stored as
  ``2 v / (L - 1) - 1``.
- ``num_classes``: number of labels or ``None``
- text: ``tokenizer`` (has ``encode``, ``decode``, ``vocab_size``, ``save(dir)``), ``vocab_size``
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..errors import DataError, NotSupported


class GenDataset(torch.utils.data.Dataset):
    """In-memory dataset; ``ds[i]`` is ``x[i]`` or ``(x[i], y[i])`` when labelled."""

    def __init__(self, name: str, split: str, kind: str, x: Tensor, y: Tensor | None = None, *,
                 levels: int | None = None, num_classes: int | None = None, tokenizer: Any = None,
                 info: dict[str, Any] | None = None):
        if x.is_floating_point() and not torch.isfinite(x).all():
            raise DataError(f"dataset {name!r} contains NaN or infinite values; clean the data first")
        if y is not None and len(y) != len(x):
            raise DataError(f"dataset {name!r}: {len(x)} examples but {len(y)} labels")
        self.name, self.split, self.kind = name, split, kind
        self.x, self.y = x, y
        self.levels, self.num_classes, self.tokenizer = levels, num_classes, tokenizer
        self.info = dict(info or {})

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def vocab_size(self) -> int | None:
        return None if self.tokenizer is None else self.tokenizer.vocab_size

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i] if self.y is None else (self.x[i], self.y[i])

    def batch(self, index: Tensor):
        """The examples at ``index`` as one batch (fast path used by the Trainer)."""
        return self.x[index] if self.y is None else (self.x[index], self.y[index])

    def log_density(self, x: Tensor) -> Tensor:
        """Exact log-density of the data distribution (only for sets where it is known)."""
        raise NotSupported(f"dataset {self.name!r} has no known exact density")

    @property
    def has_density(self) -> bool:
        return type(self).log_density is not GenDataset.log_density

    def __repr__(self) -> str:
        return f"GenDataset({self.name!r}, split={self.split!r}, kind={self.kind!r}, n={len(self)}, shape={self.shape})"
