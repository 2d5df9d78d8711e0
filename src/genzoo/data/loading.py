"""``load_dataset(name, split)``: look a dataset up in the registry, or parse ``text:PATH`` / ``folder:PATH``."""
from __future__ import annotations

from typing import Any

from ..registry import DATASETS
from .base import GenDataset


def load_dataset(name: str, split: str = "train", **kw: Any) -> GenDataset:
    """Load a built-in dataset by name (``gz.list_datasets()``) with its fixed split and seed."""
    if ":" in name:
        prefix, arg = name.split(":", 1)
        return DATASETS.get(prefix + ":")(arg, split=split, **kw)
    return DATASETS.get(name)(split=split, **kw)
