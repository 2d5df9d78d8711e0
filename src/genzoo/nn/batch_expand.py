"""``BatchExpand``: a parameter shared by every example, made visible per example.

``expand(p, B)`` returns p broadcast to (B, *p.shape) — a view, so it costs nothing — through a
module call. The gradient reaching that output holds each example's own gradient of ``p`` in its
rows, which is what per-example clipping (``genzoo.privacy.ghost``) reads with a forward hook.
The module has no parameters or buffers: adding one to a model leaves its state dict unchanged.
"""
from __future__ import annotations

from torch import Tensor, nn


class BatchExpand(nn.Module):
    def forward(self, p: Tensor, batch: int) -> Tensor:
        return p.expand(batch, *p.shape)
