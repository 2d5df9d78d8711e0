"""Image files in and out of the image-watermark commands (Pillow).

``read_images(path, shape)``: a file Pillow can open (PNG, JPEG, BMP, WebP, TIFF, ...), a directory
of them (sorted by name; other files are skipped), or a ``genzoo sample --out FILE.safetensors`` file
(raw samples). Pictures are converted to the model's channels (``L`` or ``RGB``) and, when their size
differs, resized to the model's H x W with Pillow's box (area-average) filter, then mapped to [-1, 1].
``write_pngs(samples, dir)``: one 8-bit PNG per sample, ``000000.png``, ...
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError, DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm", ".pgm")


def to_uint8(samples: Tensor) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> (N, H, W, C) uint8 (round half up of (x + 1) / 2 * 255)."""
    x = ((samples.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round()
    return x.permute(0, 2, 3, 1).numpy().astype(np.uint8)


def from_uint8(images: np.ndarray) -> Tensor:
    """(N, H, W, C) uint8 -> (N, C, H, W) float in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1


def write_pngs(samples: Tensor, out) -> Path:
    """Write each image sample as ``OUT/000000.png``; refuses to overwrite files already there."""
    from PIL import Image

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a directory for one PNG per watermarked sample")
    names = [out / f"{i:06d}.png" for i in range(len(samples))]
    clash = [p for p in names if p.exists()]
    if clash:
        raise ConfigError(f"{clash[0]} already exists; choose an empty --out directory")
    out.mkdir(parents=True, exist_ok=True)
    for arr, path in zip(to_uint8(samples), names):
        Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(path)
    return out


def _open(path: Path, mode: str, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert(mode)
            if im.size != size:
                im = im.resize(size, Image.Resampling.BOX)
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DataError(f"{path} is not an image Pillow can read (PNG, JPEG, BMP, WebP, TIFF...): "
                        f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    return arr[..., None] if arr.ndim == 2 else arr


def read_images(path, shape) -> tuple[list[str], Tensor]:
    """(names, (N, C, H, W) in [-1, 1]) for ``path`` (see the module docstring); errors are one line."""
    path = Path(path)
    c, h, w = (int(s) for s in shape)
    if not path.exists():
        raise DataError(f"--image {path} does not exist")
    if path.suffix == ".safetensors":
        from ..serialization import load_tensors

        x = load_tensors(path).get("samples")
        if x is None or x.ndim != 4 or tuple(x.shape[1:]) != (c, h, w):
            raise DataError(f"{path} holds no 'samples' tensor of shape (N, {c}, {h}, {w})")
        return [f"{path.name}[{i}]" for i in range(len(x))], x.float()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"--image {path} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    else:
        files = [path]
    if c not in (1, 3):
        raise ConfigError(f"image files have 1 or 3 channels; this model makes {c}-channel images")
    arrays = [_open(p, "L" if c == 1 else "RGB", (w, h)) for p in files]
    return [str(p) for p in files], from_uint8(np.stack(arrays))
