"""Conditioner networks for coupling layers: an MLP for vectors and a small conv ResNet for images.

The last layer starts at zero, so every coupling layer starts as the identity map (Glow's trick):
the flow begins at the base density and training only moves away from it as far as it helps.
"""
from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn


def zero_init(layer: nn.Module) -> nn.Module:
    nn.init.zeros_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def mlp(in_features: int, out_features: int, hidden: Sequence[int], activation: type[nn.Module] = nn.ReLU,
        zero_last: bool = True) -> nn.Sequential:
    """``in -> hidden... -> out`` with ``activation`` between layers."""
    sizes = [in_features, *hidden]
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), activation()]
    last = nn.Linear(sizes[-1], out_features)
    layers.append(zero_init(last) if zero_last else last)
    return nn.Sequential(*layers)


class ResBlock(nn.Module):
    """x + conv(act(norm(conv(act(norm(x))))))  with GroupNorm (batch-size independent)."""

    def __init__(self, channels: int):
        super().__init__()
        groups = 8 if channels % 8 == 0 and channels >= 32 else 1  # >= 2 values per group even at 1x1
        self.body = nn.Sequential(
            nn.GroupNorm(groups, channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1),
            nn.GroupNorm(groups, channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def conv_net(in_channels: int, out_channels: int, hidden: int = 64, blocks: int = 2) -> nn.Sequential:
    """3x3 conv in -> ``blocks`` residual blocks -> zero-initialised 3x3 conv out."""
    return nn.Sequential(
        nn.Conv2d(in_channels, hidden, 3, padding=1),
        *[ResBlock(hidden) for _ in range(blocks)],
        nn.SiLU(),
        zero_init(nn.Conv2d(hidden, out_channels, 3, padding=1)),
    )
