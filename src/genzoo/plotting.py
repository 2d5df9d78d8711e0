"""Pictures of a run: sample grids / scatters / text, loss curves and 2-D density heatmaps.

Used by the Trainer (``OUT/samples/step_*.png``, ``OUT/loss.png``) and the CLI (``genzoo sample``).
Matplotlib is used through its object API with the Agg canvas, so nothing touches pyplot's
global state or needs a display.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .errors import DataError, NotSupported

KINDS = ("image", "2d", "text", "video")


def infer_kind(samples: Tensor) -> str:
    """``"text"`` for integer ids, ``"image"`` for NCHW, ``"2d"`` for (N, D) points."""
    if not samples.is_floating_point():
        return "text"
    if samples.ndim == 4:
        return "image"
    if samples.ndim == 5:
        return "video"
    if samples.ndim == 2:
        return "2d"
    if samples.ndim == 3 and samples.shape[1] == 1:
        return "audio"
    raise DataError(f"cannot plot samples of shape {tuple(samples.shape)}; expected NCHW images, (N, 2) points or token ids")


def save_samples(samples: Tensor, path, *, kind: str | None = None, tokenizer: Any = None,
                 nrow: int | None = None, reference: Tensor | None = None, pixel_scale: int | None = None) -> Path:
    """Render samples to ``path`` and return the path written.

    images: a PNG grid of NCHW samples in [-1, 1] (1 or 3 channels), each pixel drawn as a
    ``pixel_scale`` x ``pixel_scale`` block (default: small grids blown up to ~256 px); 2d: a scatter PNG (first two
    coordinates; ``reference`` points drawn underneath in grey); text: a ``.txt`` file of the decoded
    sequences (``tokenizer.decode``, else the ids).
    """
    samples = torch.as_tensor(samples).detach().cpu()
    kind = kind or infer_kind(samples)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "image":
        _save_image_grid(samples, path, nrow, pixel_scale)
    elif kind == "video":  # (N, T, C, H, W) clips: one row of frames per clip (a GIF: genzoo.video_gif)
        _save_image_grid(samples[:16].flatten(0, 1), path, samples.shape[1])
    elif kind in ("2d", "tabular"):
        _save_scatter(samples, path, reference)
    elif kind == "text":
        path = path.with_suffix(".txt")
        path.write_text(render_text(samples, tokenizer))
    elif kind == "audio":  # no picture; genzoo sample RUN --out x.wav writes audio at the model's rate
        raise NotSupported("audio samples have no picture; use genzoo sample RUN --out x.wav")
    else:
        raise DataError(f"unknown sample kind {kind!r}; use one of: {', '.join(KINDS)}")
    return path


def render_text(ids: Tensor, tokenizer: Any = None) -> str:
    """Decode each row of ``ids`` (or print the ids), separated by rule lines."""
    rows = ids.reshape(len(ids), -1).tolist() if ids.ndim > 1 else [ids.tolist()]
    texts = [tokenizer.decode(r) if tokenizer is not None else " ".join(map(str, r)) for r in rows]
    return "".join(f"--- sample {i} ---\n{t}\n" for i, t in enumerate(texts))


def image_grid(images: Tensor, nrow: int | None = None, pad: int = 1) -> np.ndarray:
    """(H', W', C) uint8 grid of NCHW images in [-1, 1], ``nrow`` images per row, white padding."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise DataError(f"image grid needs NCHW samples with 1 or 3 channels, got shape {tuple(images.shape)}")
    n, c, h, w = images.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    nrows = math.ceil(n / nrow)
    pixels = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    grid = np.full((nrows * (h + pad) + pad, nrow * (w + pad) + pad, c), 255, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = pixels[i]
    return grid


def _save_image_grid(images: Tensor, path: Path, nrow: int | None, scale: int | None = None) -> None:
    from PIL import Image

    grid = image_grid(images, nrow)
    scale = scale or max(1, 256 // max(grid.shape[:2]))  # small images (8x8 digits) are blown up, pixel-exact
    img = Image.fromarray(grid[..., 0] if grid.shape[2] == 1 else grid)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    img.save(path)


def _figure(size=(4.0, 4.0), margins=(0.12, 0.1, 0.97, 0.97)):
    """A Figure on the Agg canvas with fixed ``(left, bottom, right, top)`` margins.

    Fixed margins instead of ``tight_layout``, which draws the whole figure once more to measure it
    (the Trainer writes these pictures during training, where each draw costs tens of steps).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    left, bottom, right, top = margins
    fig.subplots_adjust(left=left, bottom=bottom, right=right, top=top)
    return fig


def _save_scatter(points: Tensor, path: Path, reference: Tensor | None) -> None:
    if points.ndim != 2 or points.shape[1] < 2:
        raise DataError(f"a scatter plot needs (N, 2) points, got shape {tuple(points.shape)}")
    fig = _figure()
    ax = fig.add_subplot()
    if reference is not None:
        ref = torch.as_tensor(reference).detach().cpu().float()
        ax.scatter(ref[:, 0], ref[:, 1], s=2, c="0.8", label="data")
    p = points.float()
    ax.scatter(p[:, 0], p[:, 1], s=3, c="C0", label="samples")
    ax.set_aspect("equal", adjustable="datalim")
    if reference is not None:
        ax.legend(loc="upper right", fontsize=7, markerscale=3)
    fig.savefig(path)


def save_loss_curve(history: Sequence[dict], path, keys: Sequence[str] | None = None, ylabel: str = "loss",
                    log_y: bool = True) -> Path:
    """Plot every logged key containing ``"loss"`` (or ``keys``) against ``step`` (log-y when all positive
    and ``log_y``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if keys is None:
        keys = sorted({k for h in history for k, v in h.items() if "loss" in k and isinstance(v, (int, float))})
    fig = _figure((6.0, 3.5), margins=(0.11, 0.14, 0.98, 0.96))
    ax = fig.add_subplot()
    positive = True
    for k in keys:
        pts = [(h["step"], h[k]) for h in history if k in h and math.isfinite(h[k])]
        if pts:
            steps, values = zip(*pts)
            ax.plot(steps, values, label=k, lw=1.2)
            positive &= min(values) > 0
    if keys and positive and log_y:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    if len(keys) > 1:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.savefig(path)
    return path


@torch.no_grad()
def save_density(log_density_fn: Callable[[Tensor], Tensor], path, bounds: Sequence[float] = (-4, 4, -4, 4),
                 resolution: int = 200, chunk: int = 16384) -> Path:
    """Heatmap of ``exp(log_density_fn(xy))`` over ``bounds = (xmin, xmax, ymin, ymax)``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    xmin, xmax, ymin, ymax = bounds
    xs = torch.linspace(xmin, xmax, resolution)
    ys = torch.linspace(ymin, ymax, resolution)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)
    logp = torch.cat([torch.as_tensor(log_density_fn(c)).detach().float().cpu().reshape(-1) for c in grid.split(chunk)])
    density = logp.exp().nan_to_num(0.0).reshape(resolution, resolution)
    fig = _figure(margins=(0.02, 0.02, 0.98, 0.98))
    ax = fig.add_subplot()
    ax.imshow(density.numpy(), origin="lower", extent=(xmin, xmax, ymin, ymax), cmap="viridis", aspect="equal")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.savefig(path)
    return path
