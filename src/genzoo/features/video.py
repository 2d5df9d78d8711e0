"""A small 3-D-conv classifier of clips whose penultimate layer is the feature space of "FVD-moving".

    x (T, C, 16, 16) -> (C, T, H, W) -> conv3d 3^3 (16) ReLU -> conv3d 3^3 /(1,2,2) (32) ReLU
      -> conv3d 3^3 /(2,2,2) (64) ReLU -> adaptive average pool to (4, 2, 2) -> flatten (1024)
      -> linear(64) = features f(x) -> ReLU -> linear(8) = direction logits
                                          -> linear(K) = content logits (digit or shape class)

The pool keeps 4 time bins, so clips of any length 8..16 map to the same 64 features (Unterthiner et
al. 2018's FVD uses an I3D network the same way; this is a small stand-in trained on ``moving-digits``
/ ``moving-shapes`` by ``scripts/train_video_classifier.py``, weights shipped beside this file).
Fréchet distances in this space are "FVD-moving": not comparable with I3D FVDs.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch.nn.functional as F
from torch import Tensor, nn

from ..data.video import DIRECTIONS, check_clips
from ..errors import CheckpointError
from .classifier import WEIGHTS_DIR, extractor_meta, with_weights

#: dataset -> shipped weights name
VIDEO_EXTRACTORS = {"moving-digits": "moving-digits", "moving-shapes": "moving-shapes"}


class VideoConvNet(nn.Module):
    """Clip classifier: ``forward(x) -> (features, direction logits)``; ``content_logits(x)``."""

    def __init__(self, in_channels: int = 1, num_content: int = 10, width: int = 16, num_features: int = 64):
        super().__init__()
        self.in_channels, self.num_content, self.num_features = in_channels, num_content, num_features
        w = width
        self.body = nn.Sequential(
            nn.Conv3d(in_channels, w, 3, padding=1), nn.ReLU(),
            nn.Conv3d(w, 2 * w, 3, stride=(1, 2, 2), padding=1), nn.ReLU(),
            nn.Conv3d(2 * w, 4 * w, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool3d((4, 2, 2)), nn.Flatten(),
            nn.Linear(4 * w * 16, num_features),
        )
        self.direction_head = nn.Linear(num_features, len(DIRECTIONS))
        self.content_head = nn.Linear(num_features, num_content)

    def features(self, x: Tensor) -> Tensor:
        x = check_clips(x, name="clips for the video classifier")
        return self.body(x.float().transpose(1, 2))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        f = self.features(x)
        return f, self.direction_head(F.relu(f))

    def content_logits(self, x: Tensor) -> Tensor:
        return self.content_head(F.relu(self.features(x)))


def save_video_extractor(net: VideoConvNet, path, **meta) -> None:
    from safetensors.torch import save_file

    meta = {"arch": "video3d", "in_channels": net.in_channels, "num_content": net.num_content,
            "num_features": net.num_features, **meta}
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path),
              metadata={"genzoo_extractor": json.dumps(meta)})


def load_video_extractor(name_or_path) -> VideoConvNet:
    """A shipped clip classifier (``"moving-digits"``, ``"moving-shapes"``) or a file from ``save_video_extractor``."""
    path = Path(name_or_path)
    if path.suffix != ".safetensors":
        path = WEIGHTS_DIR / f"{name_or_path}.safetensors"
    if not path.is_file():
        raise CheckpointError(f"no video classifier weights at {path}; retrain with scripts/train_video_classifier.py")
    meta = extractor_meta(path)
    net = VideoConvNet(meta.get("in_channels", 1), meta.get("num_content", 10), num_features=meta.get("num_features", 64))
    return with_weights(net, path, meta)
