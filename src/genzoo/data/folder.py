"""``folder:PATH``: a user's images (PNG, JPEG, BMP, GIF, WebP via Pillow) as an image dataset.

Files are found recursively and sorted by relative path. Each image is converted to RGB
(``channels=3``, default) or grey (``channels=1``), centre-cropped to a square, resized to
``size`` x ``size`` (default 16, Lanczos) and stored as NCHW float32 in [-1, 1] with 256 levels.
If every image sits in a sub-folder, the sub-folder names are the classes (sorted; ``y`` = index,
like torchvision's ``ImageFolder``); otherwise the set is unlabelled. The split is a fixed
permutation (``np.random.RandomState(0)``): 10% test (at least one image), the rest train.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from ..registry import register_dataset
from .base import GenDataset
from .common import check_split, to_unit

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}
TEST_FRACTION = 0.1
_CHANNELS = {1: "L", 3: "RGB", "grey": "L", "gray": "L", "rgb": "RGB"}


def image_files(root: Path) -> list[Path]:
    return sorted((p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                  key=lambda p: p.relative_to(root).as_posix())


def _load_image(path: Path, size: int, mode: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert(mode)
            w, h = im.size
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            im = im.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"cannot read image {str(path)!r} ({e.__class__.__name__}); remove or fix the file") from None
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


@functools.lru_cache(maxsize=8)
def _load_folder(root: str, size: int, mode: str, stamp: tuple) -> tuple[torch.Tensor, torch.Tensor | None, list[str], list[str]]:
    """All images as uint8 (N, C, size, size), labels or None, class names, relative paths.
    ``stamp`` (names, mtimes, sizes) makes an edited folder load again."""
    base = Path(root)
    files = image_files(base)
    images = torch.from_numpy(np.stack([_load_image(p, size, mode) for p in files]))
    rel = [p.relative_to(base).as_posix() for p in files]
    if all("/" in r for r in rel):
        classes = sorted({r.split("/", 1)[0] for r in rel})
        labels = torch.tensor([classes.index(r.split("/", 1)[0]) for r in rel], dtype=torch.long)
        return images, labels, classes, rel
    return images, None, [], rel


def _check_options(path: str, size, channels) -> tuple[Path, str]:
    if not isinstance(size, int) or size < 1:
        raise DataError(f"size must be a positive integer (pixels), got {size!r}")
    if channels not in _CHANNELS:
        raise DataError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"image folder {path!r} not found; pass folder:PATH with an existing folder")
    if not root.is_dir():
        raise DataError(f"folder:{path} is not a folder; pass a folder of PNG/JPEG images")
    return root.resolve(), _CHANNELS[channels]


@register_dataset("folder:")
def image_folder(path: str, split: str = "train", size: int = 16, channels=3) -> GenDataset:
    """``folder:PATH``: images of a folder (see the module docstring)."""
    name = f"folder:{path}"
    check_split(name, split)
    root, mode = _check_options(path, size, channels)
    files = image_files(root)
    if not files:
        raise DataError(f"image folder {path!r} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    if len(files) < 2:
        raise DataError(f"image folder {path!r} has only 1 image; a train/test split needs at least 2")
    stamp = tuple((p.relative_to(root).as_posix(), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    images, labels, classes, rel = _load_folder(str(root), size, mode, stamp)
    perm = torch.from_numpy(np.random.RandomState(0).permutation(len(images)))
    n_test = max(1, round(TEST_FRACTION * len(images)))
    idx = perm[:n_test] if split == "test" else perm[n_test:]
    idx = idx.sort().values
    y = None if labels is None else labels[idx]
    return GenDataset(name, split, "image", to_unit(images[idx], 256), y, levels=256,
                      num_classes=len(classes) or None,
                      info={"classes": classes, "files": [rel[i] for i in idx.tolist()],
                            "options": {"size": size, "channels": channels}})
