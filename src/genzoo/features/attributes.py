"""The shipped attribute classifier of ``shapes-captions`` images: shape, colour, size and position heads.

One ``SmallConvNet`` (``features/classifier.py``) whose 19 logits are four heads (6 shapes, 6 colours,
2 sizes, 5 positions; ``data.shapes.ATTRIBUTES``), trained with the sum of the four cross-entropies on
images of every attribute combination (held-out pairs of ``shapes-captions`` included, seed 2) by
``scripts/train_attribute_classifier.py``. It judges generated images: an image is correct on an
attribute when the head's argmax is the caption's value.
"""
from __future__ import annotations

import functools

import torch
from torch import Tensor

from ..data.shapes import ATTRIBUTES
from .classifier import SmallConvNet, load_extractor

NAME = "attributes"
HEADS = {k: len(v) for k, v in ATTRIBUTES.items()}


def make_classifier() -> SmallConvNet:
    return SmallConvNet(3, sum(HEADS.values()))


def split_logits(logits: Tensor) -> dict[str, Tensor]:
    return dict(zip(HEADS, logits.split(list(HEADS.values()), dim=1)))


@functools.lru_cache(maxsize=1)
def attribute_classifier() -> SmallConvNet:
    return load_extractor(NAME)


@torch.no_grad()
def predict_attributes(images: Tensor, net: SmallConvNet | None = None, batch: int = 512) -> Tensor:
    """(N, 4) predicted attribute indices (shape, colour, size, position) of images in [-1, 1]."""
    net = net or attribute_classifier()
    rows = []
    for chunk in images.split(batch):
        heads = split_logits(net(chunk.float().cpu())[1])
        rows.append(torch.stack([h.argmax(1) for h in heads.values()], 1))
    return torch.cat(rows)


def attribute_accuracy(images: Tensor, attributes: Tensor, net: SmallConvNet | None = None) -> dict[str, float]:
    """Per-attribute accuracy, and ``all``: the share of images right on every attribute."""
    hits = predict_attributes(images, net) == attributes.cpu()
    out = {name: float(hits[:, i].float().mean()) for i, name in enumerate(HEADS)}
    out["all"] = float(hits.all(1).float().mean())
    return out
