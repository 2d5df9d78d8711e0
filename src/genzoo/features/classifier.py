"""A small conv classifier on 16x16 images whose penultimate layer is a feature space for FID.

    x (C,16,16) -> conv3x3(32) ReLU -> conv3x3/2(32) ReLU -> conv3x3(64) ReLU -> conv3x3/2(64) ReLU
      -> flatten (1024) -> linear(64) = features f(x) -> ReLU -> linear(classes) = logits

Trained on ``digits16`` / ``shapes`` by ``scripts/train_feature_extractor.py`` (fixed seed, one
thread); the weights ship as safetensors beside this file. Fréchet distances in this space are
reported as "FID-digits" / "FID-shapes": they are NOT Inception FIDs and not comparable with them.
8x8 inputs (``digits``) are upsampled to 16x16 (bilinear, as ``digits16`` is built); one-channel
inputs to a three-channel extractor (``shapes-bin``) are repeated over channels.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import CheckpointError, ConfigError

WEIGHTS_DIR = Path(__file__).parent / "weights"
SIZE = 16


class SmallConvNet(nn.Module):
    """Classifier with a ``features`` head (64-d, pre-activation) and ``logits``."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 32, num_features: int = 64):
        super().__init__()
        self.in_channels, self.num_classes, self.num_features = in_channels, num_classes, num_features
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w, w, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(),
            nn.Linear(2 * w * (SIZE // 4) ** 2, num_features),
        )
        self.head = nn.Linear(num_features, num_classes)

    def prepare(self, x: Tensor) -> Tensor:
        """Images in [-1, 1] of any supported size/channels -> (N, C, 16, 16)."""
        if x.dim() != 4:
            raise ConfigError(f"feature extractor expects NCHW images, got shape {tuple(x.shape)}")
        if x.shape[-2:] != (SIZE, SIZE):
            x = F.interpolate(x.float(), size=(SIZE, SIZE), mode="bilinear", align_corners=False)
        if x.shape[1] == 1 and self.in_channels == 3:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[1] != self.in_channels:
            raise ConfigError(f"feature extractor expects {self.in_channels} channels, got {x.shape[1]}")
        return x.float()

    def features(self, x: Tensor) -> Tensor:
        return self.body(self.prepare(x))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(features, logits)``."""
        f = self.features(x)
        return f, self.head(F.relu(f))


def random_shift(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random ±1-pixel translation per image (pad with -1 = background, then crop)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (1, 1, 1, 1), value=-1.0)
    dy, dx = torch.randint(0, 3, (2, n), generator=g)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :]
    return padded[torch.arange(n)[:, None, None, None], torch.arange(x.shape[1])[None, :, None, None], rows, cols]


def save_extractor(net: SmallConvNet, path, **meta) -> None:
    from safetensors.torch import save_file

    meta = {"in_channels": net.in_channels, "num_classes": net.num_classes, "num_features": net.num_features, **meta}
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path),
              metadata={"genzoo_extractor": json.dumps(meta)})


def load_extractor(name_or_path) -> SmallConvNet:
    """Load a shipped extractor (``"digits"``, ``"shapes"``) or one saved by ``save_extractor``."""
    path = Path(name_or_path)
    if not path.suffix:
        path = WEIGHTS_DIR / f"{name_or_path}.safetensors"
    if not path.is_file():
        shipped = sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors"))
        raise CheckpointError(f"no feature extractor weights at {path}; shipped: {', '.join(shipped) or 'none'} "
                              "(retrain with scripts/train_feature_extractor.py)")
    meta = extractor_meta(path)
    net = SmallConvNet(meta.get("in_channels", 1), meta.get("num_classes", 10), num_features=meta.get("num_features", 64))
    return with_weights(net, path, meta)


def extractor_meta(path: Path) -> dict:
    """The ``genzoo_extractor`` JSON metadata of a shipped classifier's safetensors file."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return json.loads((f.metadata() or {}).get("genzoo_extractor", "{}"))


def with_weights(net: nn.Module, path: Path, meta: dict) -> nn.Module:
    """``net`` with the weights of ``path`` (safetensors), its ``label`` and ``meta``, frozen in eval mode."""
    from safetensors.torch import load_file

    net.load_state_dict(load_file(str(path)))
    net.label, net.meta = meta.get("label", path.stem), meta
    return net.eval().requires_grad_(False)
