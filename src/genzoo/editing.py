"""Editing helpers on top of ``samplers.editing`` (SDEdit, RePaint-style inpainting, DDIM inversion)
and the ``Img2ImgPipeline`` / ``InpaintPipeline`` of ``pipelines.diffusion``:

- interpolation in the DDIM latent (Song, Meng & Ermon 2021, section 5.3): invert two images to
  ``x_T`` with deterministic DDIM, walk between them by spherical interpolation (the latents are
  Gaussian-like, so their norm should stay ~ sqrt(D); Shoemake 1985)::

      slerp(a, b, w) = sin((1 - w) O) / sin O * a + sin(w O) / sin O * b,   cos O = <a, b> / (|a| |b|)

  and decode every point with the same DDIM sampler;
- masks for the command line: named regions (``center``, ``left``, ``right``, ``top``, ``bottom``) or a
  box ``top,left,bottom,right``; 1 = repaint (the diffusers convention).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .errors import ConfigError
from .samplers.denoise import denoise
from .samplers.editing import ddim_invert

REGIONS = ("center", "left", "right", "top", "bottom")


def slerp(a: Tensor, b: Tensor, w: float) -> Tensor:
    """Spherical interpolation per example (linear when ``a`` and ``b`` are parallel)."""
    fa, fb = a.flatten(1), b.flatten(1)
    cos = (fa * fb).sum(1) / (fa.norm(dim=1) * fb.norm(dim=1)).clamp(min=1e-12)
    omega = torch.arccos(cos.clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    wa = torch.where(so > 1e-6, torch.sin((1 - w) * omega) / so, torch.full_like(so, 1 - w))
    wb = torch.where(so > 1e-6, torch.sin(w * omega) / so, torch.full_like(so, w))
    shape = (-1,) + (1,) * (a.ndim - 1)
    return wa.reshape(shape) * a + wb.reshape(shape) * b


@torch.no_grad()
def ddim_interpolate(model, a: Tensor, b: Tensor, frames: int = 8, steps: int = 50) -> Tensor:
    """``frames`` images per pair along the slerp path between the DDIM latents of ``a`` and ``b``.

    ``model`` is a ``ddpm``; returns (frames * N, C, H, W), pair by pair, endpoints included.
    """
    if frames < 2:
        raise ConfigError(f"frames={frames}: an interpolation needs at least 2 frames")
    sampler = model.make_sampler("ddim", steps, eta=0.0)
    fn = model.guided_fn(None, 1.0)
    za, zb = ddim_invert(fn, sampler, a), ddim_invert(fn, sampler, b)
    weights = torch.linspace(0, 1, frames).tolist()
    path = torch.stack([slerp(za, zb, w) for w in weights], 1)               # (N, frames, ...)
    out = denoise(fn, sampler, path.flatten(0, 1))
    return model.finish(out) if hasattr(model, "finish") else (out.clamp(-1, 1) if model.is_image else out)


def region_mask(spec: str, height: int, width: int) -> Tensor:
    """(H, W) float mask, 1 = repaint: a named region or a ``top,left,bottom,right`` box (pixels)."""
    m = torch.zeros(height, width)
    h2, w2 = height // 2, width // 2
    if spec == "center":
        m[height // 4: height - height // 4, width // 4: width - width // 4] = 1
    elif spec == "left":
        m[:, :w2] = 1
    elif spec == "right":
        m[:, w2:] = 1
    elif spec == "top":
        m[:h2] = 1
    elif spec == "bottom":
        m[h2:] = 1
    else:
        try:
            top, left, bottom, right = (int(v) for v in spec.split(","))
        except ValueError:
            raise ConfigError(f"mask {spec!r}: use one of {', '.join(REGIONS)}, a box top,left,bottom,right "
                              "or a PNG file") from None
        if not (0 <= top < bottom <= height and 0 <= left < right <= width):
            raise ConfigError(f"mask box {spec!r} is outside the {height}x{width} image")
        m[top:bottom, left:right] = 1
    return m
