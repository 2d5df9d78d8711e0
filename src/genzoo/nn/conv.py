"""Small convolutional backbones for images of 8x8 to 64x64 pixels (VAE, VQ-VAE).

``ConvEncoder``: (C, H, W) -> (channels, H / 2^n, W / 2^n), n stride-2 convolutions that bring the
smaller side down to ``min_size`` (4 by default). ``ConvDecoder`` mirrors it with transposed
convolutions. ``flat_size`` gives the size of the flattened feature map, for a linear head.
"""
from __future__ import annotations

from torch import Tensor, nn


def num_downsamples(height: int, width: int, min_size: int = 4) -> int:
    """How many times both sides can be halved (staying even) before reaching ``min_size``."""
    n = 0
    while min(height, width) > min_size and height % 2 == 0 and width % 2 == 0:
        height, width, n = height // 2, width // 2, n + 1
    return n


class ResBlock(nn.Module):
    """x + conv3x3(relu(conv3x3(relu(x))))."""

    def __init__(self, channels: int):
        super().__init__()
        self.net = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(channels, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.net(x)


class ConvEncoder(nn.Module):
    def __init__(self, in_channels: int, channels: int, n_down: int, n_res: int = 1):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, padding=1)]
        for _ in range(n_down):
            layers += [nn.ReLU(), nn.Conv2d(channels, channels, 4, stride=2, padding=1)]
        layers += [ResBlock(channels) for _ in range(n_res)] + [nn.ReLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ConvDecoder(nn.Module):
    def __init__(self, channels: int, out_channels: int, n_up: int, n_res: int = 1):
        super().__init__()
        layers: list[nn.Module] = [ResBlock(channels) for _ in range(n_res)]
        for _ in range(n_up):
            layers += [nn.ReLU(), nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1)]
        layers += [nn.ReLU(), nn.Conv2d(channels, out_channels, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, h: Tensor) -> Tensor:
        return self.net(h)
