"""Procedural ``shapes``: 16x16 RGB images of one coloured shape on a dark background.

Six classes (the label): circle, square, triangle, cross, diamond, ring. Per image, drawn from a
fixed-seed ``torch.Generator``: the class, a half-size r ~ U(3, 6.5) px, a centre such that the
shape fits, a bright colour (HSV hue ~ U(0,1), saturation ~ U(0.6,1), value ~ U(0.75,1)) and a dark
background (each RGB channel ~ U(0, 0.12)). Edges are anti-aliased by 4x4 supersampling (pixel =
coverage-weighted mix of colour and background), then quantised to 8 bits.

``make_attributed_shapes`` draws the same kind of image from named attributes (colour, size and
position from small fixed sets, see ``ATTRIBUTES``) for the captioned sets of ``data/captions.py``.
"""
from __future__ import annotations

import torch
from torch import Tensor

CLASSES = ("circle", "square", "triangle", "cross", "diamond", "ring")
SIZE, SUPERSAMPLE = 16, 4


def _inside(label: int, u: Tensor, v: Tensor) -> Tensor:
    """Is (u, v) -- coordinates relative to the centre in units of r, v pointing down -- in the shape?"""
    a, b = u.abs(), v.abs()
    if label == 0:
        return u * u + v * v <= 1
    if label == 1:
        return torch.maximum(a, b) <= 0.8
    if label == 2:  # apex up at v = -1, base at v = 0.8
        return (v <= 0.8) & (a <= (v + 1) * (0.95 / 1.8))
    if label == 3:
        return ((a <= 0.3) & (b <= 1)) | ((b <= 0.3) & (a <= 1))
    if label == 4:
        return a + b <= 1
    return (u * u + v * v <= 1) & (u * u + v * v >= 0.55**2)


def _hsv_to_rgb(h: Tensor, s: Tensor, v: Tensor) -> Tensor:
    """(N,) each in [0, 1] -> (N, 3)."""
    k = (torch.tensor([5.0, 3.0, 1.0]) + h[:, None] * 6) % 6
    return v[:, None] - (v * s)[:, None] * (torch.minimum(k, 4 - k).clamp(0, 1))


def make_shapes(n: int, seed: int) -> tuple[Tensor, Tensor]:
    """``n`` images as uint8 (n, 3, 16, 16) and labels (n,) long, deterministic in ``seed``."""
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(0, len(CLASSES), (n,), generator=g)
    r = 3 + 3.5 * torch.rand(n, generator=g)
    centre = r[:, None] + (SIZE - 2 * r[:, None]) * torch.rand(n, 2, generator=g)
    hsv = torch.rand(n, 3, generator=g) * torch.tensor([1.0, 0.4, 0.25]) + torch.tensor([0.0, 0.6, 0.75])
    colour = _hsv_to_rgb(*hsv.unbind(1))
    background = 0.12 * torch.rand(n, 3, generator=g)

    return _render(label, r, centre, colour, background), label


def _render(label: Tensor, r: Tensor, centre: Tensor, colour: Tensor, background: Tensor) -> Tensor:
    """Rasterise one shape per image (4x4 supersampled coverage) -> uint8 (n, 3, 16, 16)."""
    n = len(label)
    sub = (torch.arange(SIZE * SUPERSAMPLE) + 0.5) / SUPERSAMPLE  # sub-pixel centres in pixel units
    coverage = torch.empty(n, SIZE, SIZE)
    for k in range(len(CLASSES)):
        idx = (label == k).nonzero().squeeze(1)
        u = (sub[None, None, :] - centre[idx, 0, None, None]) / r[idx, None, None]
        v = (sub[None, :, None] - centre[idx, 1, None, None]) / r[idx, None, None]
        mask = _inside(k, u, v).float()
        coverage[idx] = mask.view(len(idx), SIZE, SUPERSAMPLE, SIZE, SUPERSAMPLE).mean((2, 4))
    cov = coverage[:, None]
    img = background[:, :, None, None] * (1 - cov) + colour[:, :, None, None] * cov
    return (img * 255).round().clamp(0, 255).to(torch.uint8)


# --- captioned shapes: named attributes -----------------------------------------------------------
COLOURS = ("red", "yellow", "green", "cyan", "blue", "magenta")   # hue k/6, jittered by U(-0.03, 0.03)
SIZES = ("small", "large")                                         # half-size r ~ U(2.5, 3.5) | U(4.5, 5.5)
POSITIONS = ("top left", "top right", "bottom left", "bottom right", "centre")
#: where in its allowed range [r, 16 - r] the centre lies (fraction along x, y), jittered by U(-0.1, 0.1)
_PLACES = ((0.1, 0.1), (0.9, 0.1), (0.1, 0.9), (0.9, 0.9), (0.5, 0.5))
ATTRIBUTES = {"shape": CLASSES, "colour": COLOURS, "size": SIZES, "position": POSITIONS}


def caption(shape: int, colour: int, size: int, position: int) -> str:
    """``"a small red circle at the top left"`` (``"... in the centre"``)."""
    where = "in the centre" if POSITIONS[position] == "centre" else f"at the {POSITIONS[position]}"
    return f"a {SIZES[size]} {COLOURS[colour]} {CLASSES[shape]} {where}"


def make_attributed_shapes(n: int, seed: int, exclude: tuple[tuple[int, int], ...] = ()) -> tuple[Tensor, Tensor]:
    """``n`` images uint8 (n, 3, 16, 16) and their attributes (n, 4) long: shape, colour, size, position
    (indices into ``ATTRIBUTES``), deterministic in ``seed``. ``exclude``: (shape, colour) pairs never drawn
    (each is redrawn from the other colours), the held-out combinations of a compositional split."""
    g = torch.Generator().manual_seed(seed)
    attrs = torch.stack([torch.randint(0, len(v), (n,), generator=g) for v in ATTRIBUTES.values()], 1)
    for shape, colour in exclude:
        hit = (attrs[:, 0] == shape) & (attrs[:, 1] == colour)
        attrs[hit, 1] = (colour + torch.randint(1, len(COLOURS), (int(hit.sum()),), generator=g)) % len(COLOURS)
    label, colour, size, position = attrs.unbind(1)
    r = 2.5 + 2.0 * size + torch.rand(n, generator=g)
    place = torch.tensor(_PLACES)[position] + 0.2 * (torch.rand(n, 2, generator=g) - 0.5)
    centre = r[:, None] + (SIZE - 2 * r[:, None]) * place
    hue = (colour / len(COLOURS) + 0.06 * (torch.rand(n, generator=g) - 0.5)) % 1.0
    sat_val = torch.rand(n, 2, generator=g) * torch.tensor([0.2, 0.15]) + torch.tensor([0.8, 0.85])
    rgb = _hsv_to_rgb(hue, *sat_val.unbind(1))
    background = 0.12 * torch.rand(n, 3, generator=g)
    return _render(label, r, centre, rgb, background), attrs
