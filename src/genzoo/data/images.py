"""Image sets (NCHW float32 in [-1, 1], integer labels ``y``): grey level v of L levels -> 2v/(L-1) - 1.

- ``digits``: scikit-learn's 1,797 handwritten digits, 1x8x8, 17 grey levels (0..16), 10 classes.
  Split by a fixed permutation (``np.random.RandomState(0)``): 359 test (20%), 1,438 train.
- ``digits16``: the same images upsampled to 1x16x16 (bilinear, ``align_corners=False``) and
  re-quantised to 17 levels.
- ``shapes``: procedural 3x16x16 coloured shapes, 6 classes, 256 levels; train 6,000 (seed 0) /
  test 1,000 (seed 1); see ``shapes.py``.
- ``*-bin``: binarised, 1 channel, 2 levels (-1/1): 1 where the brightest channel is at least
  half way (digits: v >= 8 of 16; shapes: max(R, G, B) >= 128 of 255).

Every set takes ``classes=`` (``--data-arg classes=3``): keep only those classes (set ``digits[3]``).
"""
from __future__ import annotations

import functools
import importlib.util
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..registry import register_dataset
from .base import GenDataset
from .classes import keep_classes
from .common import SEEDS, binarise, check_split, to_unit
from .shapes import CLASSES as SHAPE_CLASSES
from .shapes import make_shapes

DIGITS_TEST_FRACTION = 0.2
SHAPES_SIZES = {"train": 6000, "test": 1000}


def _digits_file() -> str | None:
    """scikit-learn's bundled ``digits.csv.gz``, found without importing scikit-learn (1-3 s)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(spec.submodule_search_locations[0], "datasets", "data", "digits.csv.gz")
    return path if os.path.isfile(path) else None


@functools.lru_cache(maxsize=None)
def _digits_all() -> tuple[Tensor, Tensor]:
    """All 1,797 digits as integer levels (N, 1, 8, 8) in 0..16 and labels; = ``load_digits()``."""
    path = _digits_file()
    if path is not None:
        table = np.loadtxt(path, delimiter=",")
        images, target = table[:, :-1], table[:, -1]
    else:
        from sklearn.datasets import load_digits

        images, target = load_digits(return_X_y=True)
    return torch.from_numpy(images).long().view(-1, 1, 8, 8), torch.from_numpy(target).long()


def _digits_split(split: str) -> tuple[Tensor, Tensor]:
    v, y = _digits_all()
    perm = torch.from_numpy(np.random.RandomState(0).permutation(len(v)))
    n_test = round(DIGITS_TEST_FRACTION * len(v))
    idx = perm[:n_test] if split == "test" else perm[n_test:]
    return v[idx], y[idx]


@functools.lru_cache(maxsize=None)
def _levels(name: str, split: str) -> tuple[Tensor, Tensor, int]:
    """(integer image levels, labels, number of levels) of a non-binarised set."""
    if name == "digits":
        return (*_digits_split(split), 17)
    if name == "digits16":
        v, y = _digits_split(split)
        up = F.interpolate(v.double(), size=(16, 16), mode="bilinear", align_corners=False)
        return up.round().clamp(0, 16).long(), y, 17
    if name == "shapes":
        v, y = make_shapes(SHAPES_SIZES[split], SEEDS[split])
        return v, y, 256
    raise KeyError(name)


@functools.lru_cache(maxsize=None)
def _images(name: str, split: str) -> tuple[Tensor, Tensor, int]:
    """(x in [-1, 1], labels, levels) of any image set, ``-bin`` included."""
    base = name.removesuffix("-bin")
    v, y, levels = _levels(base, split)
    x = to_unit(v, levels)
    return (binarise(x), y, 2) if name.endswith("-bin") else (x, y, levels)


def load_image_set(name: str, split: str = "train", classes: str | int | None = None) -> GenDataset:
    """Load ``digits``, ``digits16``, ``shapes`` or one of their ``-bin`` variants; ``classes``
    (``3``, ``"3,5"``, ``"circle"``) keeps those classes only (``genzoo.data.classes``)."""
    check_split(name, split)
    x, y, levels = _images(name, split)
    names = list(SHAPE_CLASSES) if name.startswith("shapes") else [str(i) for i in range(10)]
    data = GenDataset(name, split, "image", x.clone(), y.clone(), levels=levels, num_classes=len(names),
                      info={"classes": names})
    return data if classes is None else keep_classes(data, classes)


def _register(name: str) -> None:
    def load(split: str = "train", classes: str | int | None = None) -> GenDataset:
        return load_image_set(name, split, classes)

    load.__doc__ = f"The image set {name!r}; see ``genzoo.data.images``."
    register_dataset(name)(load)


for _name in ("digits", "digits16", "shapes"):
    _register(_name)
    _register(_name + "-bin")
