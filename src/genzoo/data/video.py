"""Procedural video sets ``moving-digits`` and ``moving-shapes`` (after Srivastava et al. 2015's Moving MNIST).

A clip is ``(T, C, 16, 16)`` float in [-1, 1], kind ``"video"``, ``T = frames`` (8..16, default 12).
One sprite moves with a constant velocity ``v = speed * d`` and bounces off the borders: with
``p_{t+1} = p_t + v``, a coordinate that leaves ``[lo, hi]`` is reflected (``p -> 2 lo - p`` or
``2 hi - p``) and that velocity component flips sign. ``d`` is one of 8 compass directions
(``DIRECTIONS``: E, SE, S, SW, W, NW, N, NE in image coordinates, y down), ``speed`` is 1 or 2 px/frame.
Start positions are drawn so the first step does not bounce: frames 0 and 1 always show ``d``.

Labels: ``y`` = direction (8 classes, what ``video-diffusion`` conditions on); ``data.content`` =
digit (0..9) or shape class (``shapes.CLASSES``); ``data.speed`` = speed.

- ``moving-digits``: scikit-learn's 8x8 digits (17 grey levels; train clips use the ``digits`` train
  split's images, test clips its test split) pasted at integer positions on a black 16x16 canvas, 1 channel.
- ``moving-shapes``: the ``shapes`` set's sprites (``shapes._inside``, anti-aliased by 4x4
  supersampling), half-size r ~ U(2.5, 3.5) px, a bright colour on a dark background, 3 channels.

Train 6,000 clips (seed 0), test 1,000 (seed 1); ``frames=`` (``--data-arg frames=8``) picks the length.
"""
from __future__ import annotations

import functools

import torch
from torch import Tensor

from ..errors import DataError
from ..registry import register_dataset
from .base import GenDataset
from .common import SEEDS, check_split, to_unit
from .shapes import CLASSES as SHAPE_CLASSES
from .shapes import SUPERSAMPLE, _hsv_to_rgb, _inside

SIZE = 16
FRAMES = (8, 16)  # allowed clip lengths (inclusive)
DEFAULT_FRAMES = 12
SIZES = {"train": 6000, "test": 1000}
DIRECTIONS = ("E", "SE", "S", "SW", "W", "NW", "N", "NE")
STEPS = torch.tensor([[1, 0], [1, 1], [0, 1], [-1, 1], [-1, 0], [-1, -1], [0, -1], [1, -1]])  # (dx, dy), y down


def check_frames(frames, name: str = "clip") -> int:
    """``frames`` as an int in ``FRAMES``, else a one-line DataError."""
    try:
        t = int(frames)
    except (TypeError, ValueError):
        raise DataError(f"{name}: frames={frames!r} is not a number of frames ({FRAMES[0]}..{FRAMES[1]})") from None
    if not FRAMES[0] <= t <= FRAMES[1]:
        raise DataError(f"{name}: frames={t} is outside {FRAMES[0]}..{FRAMES[1]}; pick a clip length in that range")
    return t


def check_clips(x: Tensor, frames: int | None = None, name: str = "clips") -> Tensor:
    """``x`` must be ``(N, T, C, H, W)`` clips (with ``T == frames`` when given): one-line DataError otherwise."""
    if not isinstance(x, Tensor) or x.ndim != 5:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise DataError(f"{name} must be video clips of shape (N, frames, C, H, W), got {shape}")
    if frames is not None and x.shape[1] != frames:
        raise DataError(f"{name} have {x.shape[1]} frames but {frames} are needed")
    return x


def bounce_path(start: Tensor, velocity: Tensor, frames: int, lo, hi) -> Tensor:
    """Positions ``(N, frames, 2)`` of points starting at ``start`` (N, 2) with ``velocity`` (N, 2),
    reflected off ``[lo, hi]`` (scalars or (N, 1) tensors) each step."""
    p, v = start.clone().float(), velocity.clone().float()
    out = [p.clone()]
    for _ in range(frames - 1):
        p = p + v
        below, above = p < lo, p > hi
        p = torch.where(below, 2 * lo - p, torch.where(above, 2 * hi - p, p))
        v = torch.where(below | above, -v, v)
        out.append(p.clone())
    return torch.stack(out, 1)


def _motion(n: int, g: torch.Generator, lo, hi, integer: bool = False) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(direction, speed, start, velocity): the start is uniform over the positions (integers when
    ``integer``) whose first step stays inside ``[lo, hi]``."""
    direction = torch.randint(0, len(DIRECTIONS), (n,), generator=g)
    speed = torch.randint(1, 3, (n,), generator=g)
    velocity = (STEPS[direction] * speed[:, None]).float()
    low = lo + velocity.clamp(max=0).neg()      # p + v >= lo
    high = hi - velocity.clamp(min=0)           # p + v <= hi
    u = torch.rand(n, 2, generator=g)
    start = torch.minimum(low + ((high - low + 1) * u).floor(), high) if integer else low + (high - low) * u
    return direction, speed, start, velocity


def make_moving_digits(n: int, seed: int, frames: int, digits: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``n`` clips of integer levels (n, frames, 1, 16, 16) in 0..16 from ``digits`` (M, 1, 8, 8);
    returns (clips, direction, speed, digit index into ``digits``) -- positions are integers."""
    g = torch.Generator().manual_seed(seed)
    which = torch.randint(0, len(digits), (n,), generator=g)
    direction, speed, start, velocity = _motion(n, g, 0, SIZE - 8, integer=True)
    path = bounce_path(start, velocity, frames, 0, SIZE - 8).long()    # (n, T, 2) top-left corners
    rows = path[..., 1, None] + torch.arange(8)                                # (n, T, 8)
    cols = path[..., 0, None] + torch.arange(8)
    clips = torch.zeros(n, frames, SIZE, SIZE, dtype=torch.long)
    idx_n = torch.arange(n)[:, None, None, None]
    idx_t = torch.arange(frames)[None, :, None, None]
    clips[idx_n, idx_t, rows[..., :, None], cols[..., None, :]] = digits[which][:, None, 0]
    return clips[:, :, None], direction, speed, which


def make_moving_shapes(n: int, seed: int, frames: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``n`` clips as uint8 (n, frames, 3, 16, 16); returns (clips, direction, speed, shape class)."""
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(0, len(SHAPE_CLASSES), (n,), generator=g)
    r = 2.5 + torch.rand(n, generator=g)
    direction, speed, start, velocity = _motion(n, g, r[:, None], SIZE - r[:, None])
    centre = bounce_path(start, velocity, frames, r[:, None], SIZE - r[:, None])
    hsv = torch.rand(n, 3, generator=g) * torch.tensor([1.0, 0.4, 0.25]) + torch.tensor([0.0, 0.6, 0.75])
    colour = _hsv_to_rgb(*hsv.unbind(1))
    background = 0.12 * torch.rand(n, 3, generator=g)
    sub = (torch.arange(SIZE * SUPERSAMPLE) + 0.5) / SUPERSAMPLE
    coverage = torch.empty(n, frames, SIZE, SIZE)
    for k in range(len(SHAPE_CLASSES)):
        idx = (label == k).nonzero().squeeze(1)
        rr = r[idx, None, None, None]
        u = (sub[None, None, None, :] - centre[idx, :, 0, None, None]) / rr
        v = (sub[None, None, :, None] - centre[idx, :, 1, None, None]) / rr
        mask = _inside(k, u, v).float()
        coverage[idx] = mask.view(len(idx), frames, SIZE, SUPERSAMPLE, SIZE, SUPERSAMPLE).mean((3, 5))
    cov = coverage[:, :, None]
    img = background[:, None, :, None, None] * (1 - cov) + colour[:, None, :, None, None] * cov
    return (img * 255).round().clamp(0, 255).to(torch.uint8), direction, speed, label


class VideoDataset(GenDataset):
    """A ``GenDataset`` of clips with the per-clip ``content`` class and ``speed`` beside ``y`` (direction)."""

    def __init__(self, *args, content: Tensor, speed: Tensor, **kw):
        super().__init__(*args, **kw)
        self.content, self.speed = content, speed

    @property
    def frames(self) -> int:
        return self.shape[0]


@functools.lru_cache(maxsize=8)
def _clips(name: str, split: str, frames: int) -> tuple[Tensor, Tensor, Tensor, Tensor, int]:
    n, seed = SIZES[split], SEEDS[split]
    if name == "moving-digits":
        from .images import _digits_split

        digits, labels = _digits_split(split)
        v, direction, speed, which = make_moving_digits(n, seed, frames, digits)
        return v, direction, speed, labels[which], 17
    v, direction, speed, label = make_moving_shapes(n, seed, frames)
    return v, direction, speed, label, 256


def load_video_set(name: str, split: str = "train", frames: int = DEFAULT_FRAMES) -> VideoDataset:
    """``moving-digits`` or ``moving-shapes`` with clips of ``frames`` frames (see the module docstring)."""
    check_split(name, split)
    frames = check_frames(frames, name)
    v, direction, speed, content, levels = _clips(name, split, frames)
    contents = [str(i) for i in range(10)] if name == "moving-digits" else list(SHAPE_CLASSES)
    info = {"classes": list(DIRECTIONS), "content_classes": contents, "options": {"frames": frames}}
    return VideoDataset(name, split, "video", to_unit(v, levels), direction.clone(), levels=levels,
                        num_classes=len(DIRECTIONS), info=info, content=content.clone(), speed=speed.clone())


def _register(name: str) -> None:
    def load(split: str = "train", frames: int = DEFAULT_FRAMES) -> VideoDataset:
        return load_video_set(name, split, frames)

    load.__doc__ = f"The video set {name!r}: clips of a sprite moving and bouncing; see ``genzoo.data.video``."
    register_dataset(name)(load)


for _name in ("moving-digits", "moving-shapes"):
    _register(_name)
