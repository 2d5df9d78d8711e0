"""Video clips to an animated GIF (Pillow): ``genzoo sample RUN --out clips.gif``.

``save_gif(clips, path)`` tiles ``(N, T, C, H, W)`` clips in [-1, 1] into one animation: frame ``t`` is
the grid (``plotting.image_grid``) of every clip's frame ``t``, blown up pixel-exact (nearest) to about
512 px on its long side. ``read_gif(path)`` reads a GIF's frames back as ``(T, C, H, W)`` in [-1, 1] (grey GIFs: C = 1).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .data.video import check_clips
from .errors import DataError


def gif_frames(clips: Tensor, nrow: int | None = None, size: int = 512) -> list:
    """The PIL frames of the tiled animation, blown up by the integer factor nearest to ``size`` px on the long side."""
    from PIL import Image

    from .plotting import image_grid

    clips = check_clips(torch.as_tensor(clips).detach().cpu().float(), name="GIF clips")
    frames = []
    for t in range(clips.shape[1]):
        grid = image_grid(clips[:, t], nrow)
        scale = max(1, round(size / max(grid.shape[:2])))
        img = Image.fromarray(grid[..., 0] if grid.shape[2] == 1 else grid)
        frames.append(img.resize((img.width * scale, img.height * scale), Image.NEAREST) if scale > 1 else img)
    return frames


def save_gif(clips: Tensor, path, *, fps: float = 6.0, nrow: int | None = None) -> Path:
    """Write ``clips`` (N, T, C, H, W) in [-1, 1] as one looping GIF at ``fps``; returns the path."""
    frames = gif_frames(clips, nrow)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=round(1000 / fps), loop=0,
                   optimize=False, disposal=1)
    return path


def read_gif(path) -> Tensor:
    """The frames of a GIF as (T, C, H, W) float in [-1, 1]; a one-line DataError for a non-GIF file."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if img.format != "GIF":
                raise DataError(f"{path} is a {img.format} file, not a GIF")
            frames = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(img)]
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"cannot read {path} as a GIF ({e})") from None
    x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1
    return x[:, :1] if torch.equal(x[:, :1].expand_as(x), x) else x
