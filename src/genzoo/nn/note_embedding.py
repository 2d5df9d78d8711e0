"""Global conditioning of audio models on a note's pitch and timbre (WaveNet's "global conditioning").

A ``notes`` label is ``y = pitch · T + timbre`` (``genzoo.data.audio``); the condition vector is the
sum of a pitch and a timbre embedding, h = E_p[pitch] + E_t[timbre], so the model shares what a
pitch sounds like across instruments. With ``null=True`` the label ``num_classes`` is the "no label"
class (its own pitch and timbre rows) for classifier-free guidance. ``n_timbres = 1`` makes this a
plain class embedding (e.g. ``melodies``, whose label is the instrument).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import ConfigError, DataError


class NoteEmbedding(nn.Module):
    def __init__(self, num_classes: int, n_timbres: int, dim: int, null: bool = False):
        super().__init__()
        if n_timbres < 1 or num_classes % n_timbres:
            raise ConfigError(f"num_classes={num_classes} is not a multiple of n_timbres={n_timbres}")
        self.num_classes, self.n_timbres, self.null = num_classes, n_timbres, null
        self.n_pitches = num_classes // n_timbres
        self.pitch = nn.Embedding(self.n_pitches + int(null), dim)
        self.timbre = nn.Embedding(n_timbres + int(null), dim)

    def forward(self, y: Tensor) -> Tensor:
        """(N,) labels in 0..num_classes-1 (num_classes = null when ``null``) -> (N, dim)."""
        y = y.long()
        top = self.num_classes + int(self.null)
        if len(y) and (y.min() < 0 or y.max() >= top):
            raise DataError(f"labels must be in 0..{top - 1}, got {int(y.min())}..{int(y.max())}")
        pitch = torch.div(y, self.n_timbres, rounding_mode="floor")
        timbre = y % self.n_timbres
        if self.null:
            is_null = y == self.num_classes
            pitch = torch.where(is_null, self.n_pitches, pitch)
            timbre = torch.where(is_null, self.n_timbres, timbre)
        return self.pitch(pitch) + self.timbre(timbre)


def labels_for(n: int, y, num_classes: int | None, device) -> Tensor | None:
    """Sampling labels: ``y`` (one label or ``n``), or 0, 1, 2, ... mod ``num_classes`` when None."""
    if num_classes is None:
        if y is not None:
            raise ConfigError("labels given but this model is unconditional; train it on labelled data to condition")
        return None
    if y is None:
        return torch.arange(n, device=device) % num_classes
    y = torch.as_tensor(y, device=device).long().reshape(-1)
    y = y.expand(n) if y.numel() == 1 else y
    if y.numel() != n or y.min() < 0 or y.max() >= num_classes:
        raise ConfigError(f"labels must be {n} labels (or one) in 0..{num_classes - 1}")
    return y
