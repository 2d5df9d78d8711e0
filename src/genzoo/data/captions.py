"""Captioned image sets for text-to-image models: ``shapes-captions`` and ``digits-captions``.

Each example is an image ``x`` (as in ``images.py``: floats in [-1, 1]) and its caption's MiniLM token
ids ``y`` (``(caption_length,)`` long, ``[PAD]``-padded; ``features/text_tokens.py``); the caption
strings are ``info["captions"]``.

- ``shapes-captions``: 3x16x16 shapes drawn from named attributes (``shapes.make_attributed_shapes``):
  shape (6), colour (6), size (2), position (5): "a small red circle at the top left",
  "a large blue square in the centre"; ``info["attributes"]`` is the (N, 4) attribute table. The six
  (shape, colour) pairs ``HELD_OUT`` (the diagonal: red circle, yellow square, green triangle, cyan
  cross, blue diamond, magenta ring) never occur in train; every shape and every colour still does, so
  the test captions of those pairs probe composition. Train 6,000 (seed 0) / test 1,000 (seed 1);
  ``info["held_out"]`` marks the test examples of held-out pairs.
- ``digits-captions``: scikit-learn's 8x8 digits with "a handwritten seven" (same split as ``digits``).
"""
from __future__ import annotations

import functools
import itertools

import torch
from torch import Tensor

from ..errors import ConfigError
from ..registry import register_dataset
from .base import GenDataset
from .common import SEEDS, check_split, to_unit
from .shapes import ATTRIBUTES, CLASSES, caption, make_attributed_shapes

CAPTION_LENGTH = 16
HELD_OUT = tuple((k, k) for k in range(len(CLASSES)))  # (shape, colour) index pairs
SIZES = {"train": 6000, "test": 1000}
NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


#: prompts for a prompt x seed grid of a ``shapes-captions`` model; the first and the last two name held-out
#: (shape, colour) pairs (red circle, blue diamond), never seen in training
EXAMPLE_PROMPTS = ("a small red circle at the top left", "a large blue square in the centre",
                   "a small yellow triangle at the bottom right", "a large green cross at the top right",
                   "a small cyan ring at the bottom left", "a large magenta diamond in the centre",
                   "a large blue diamond at the bottom left", "a small red circle in the centre")


def caption_attributes(text: str) -> tuple[int, int, int, int]:
    """The (shape, colour, size, position) indices a ``shapes-captions`` caption names (inverse of ``caption``)."""
    table = {caption(*a): a for a in itertools.product(*(range(len(v)) for v in ATTRIBUTES.values()))}
    if text not in table:
        raise ConfigError(f"{text!r} is not a shapes-captions caption; write e.g. {caption(0, 0, 0, 0)!r}")
    return table[text]


def held_out_mask(attributes: Tensor) -> Tensor:
    """(N,) bool: which rows of an (N, 4) attribute table are a held-out (shape, colour) pair."""
    pairs = torch.tensor(HELD_OUT)
    return ((attributes[:, None, :2] == pairs[None]).all(-1)).any(1)


def shape_captions(attributes: Tensor) -> list[str]:
    return [caption(*row) for row in attributes.tolist()]


@functools.lru_cache(maxsize=None)
def _shapes(split: str) -> tuple[Tensor, Tensor]:
    exclude = HELD_OUT if split == "train" else ()
    return make_attributed_shapes(SIZES[split], SEEDS[split], exclude=exclude)


def _captioned(name: str, split: str, x: Tensor, captions: list[str], levels: int, info: dict) -> GenDataset:
    from ..features.text_tokens import tokenize

    ids = tokenize(captions, CAPTION_LENGTH)
    return GenDataset(name, split, "image", x, ids, levels=levels,
                      info={"captions": captions, "caption_length": CAPTION_LENGTH, "conditioning": "text", **info})


@register_dataset("shapes-captions")
def shapes_captions(split: str = "train") -> GenDataset:
    """Shapes with captions of their shape, colour, size and position; see ``genzoo.data.captions``."""
    check_split("shapes-captions", split)
    v, attrs = _shapes(split)
    return _captioned("shapes-captions", split, to_unit(v, 256), shape_captions(attrs), 256,
                      {"attributes": attrs.clone(), "attribute_names": {k: list(v) for k, v in ATTRIBUTES.items()},
                       "held_out": held_out_mask(attrs), "held_out_pairs": [list(p) for p in HELD_OUT]})


@register_dataset("digits-captions")
def digits_captions(split: str = "train") -> GenDataset:
    """scikit-learn's digits captioned "a handwritten seven"; see ``genzoo.data.captions``."""
    from .images import load_image_set

    check_split("digits-captions", split)
    digits = load_image_set("digits", split)
    captions = [f"a handwritten {NUMBERS[int(d)]}" for d in digits.y]
    return _captioned("digits-captions", split, digits.x, captions, digits.levels, {"labels": digits.y.clone()})
