"""Mode-collapse mitigations and diagnostics for the GAN family.

- Unrolled GAN (Metz et al. 2017): G is trained against D after k simulated SGD steps,
      θ_D^{i+1} = θ_D^i − η ∇_θ L_D(θ_D^i, θ_G),   L_G^unrolled(θ_G) = L_G(θ_G, θ_D^k(θ_G)),
  differentiating through the k steps (create_graph) with ``torch.func.functional_call``; the real
  discriminator's parameters and buffers are never written.
- Mode seeking (Mao et al. 2019, MSGAN): G minimises  1 / (d(G(z₁), G(z₂)) / d(z₁, z₂) + ε)  with
  mean-absolute distances, so distinct latents must map to distinct samples.
- DiffAugment (Zhao et al. 2020): the same differentiable random augmentation (colour, translation,
  cutout) is applied to real and fake images before D.
- Mode coverage (the standard 2-D mixture diagnostic, e.g. Srivastava et al. 2017 VEEGAN): a mode
  is covered when ≥ 1% of samples lie within 3σ of it; a sample is high quality when within 3σ of
  some mode.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from ..nn.batch_noise import batch_rand, batch_randint


# --- unrolled discriminator ----------------------------------------------------------------
def unrolled_discriminator_state(d: nn.Module, d_loss: Callable[[Callable], Tensor], steps: int,
                                 lr: float, create_graph: bool = True) -> dict[str, Tensor]:
    """θ_D after ``steps`` functional SGD steps on ``d_loss(call)``, where ``call(x, y)`` runs D
    with the current functional weights. Returns a state dict for ``functional_call``; buffers
    (spectral-norm power-iteration vectors) are cloned so D's own buffers stay untouched."""
    params = dict(d.named_parameters())
    buffers = {k: b.clone() for k, b in d.named_buffers()}
    for _ in range(steps):
        state = {**params, **buffers}
        loss = d_loss(lambda x, y=None: functional_call(d, state, (x, y)))
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=create_graph, allow_unused=True)
        params = {k: p if g is None else p - lr * g for (k, p), g in zip(params.items(), grads)}
    return {**params, **buffers}


# --- mode seeking --------------------------------------------------------------------------
def mode_seeking_loss(z: Tensor, fake: Tensor, eps: float = 1e-5) -> Tensor:
    """MSGAN: 1 / (mean|G(z₁) − G(z₂)| / mean|z₁ − z₂| + ε) over the two halves of the batch."""
    h = len(z) // 2
    ratio = (fake[:h] - fake[h:2 * h]).abs().mean() / (z[:h] - z[h:2 * h]).abs().mean()
    return 1.0 / (ratio + eps)


# --- DiffAugment ---------------------------------------------------------------------------
def _color(x: Tensor) -> Tensor:
    b = len(x)
    x = x + (batch_rand(b, 1, 1, 1, device=x.device) - 0.5)                       # brightness
    mean = x.mean(1, keepdim=True)
    x = (x - mean) * (batch_rand(b, 1, 1, 1, device=x.device) * 2) + mean          # saturation
    mean = x.mean((1, 2, 3), keepdim=True)
    return (x - mean) * (batch_rand(b, 1, 1, 1, device=x.device) + 0.5) + mean     # contrast


def _translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    b, _, h, w = x.shape
    s = max(1, int(h * ratio + 0.5))
    shift = batch_randint(-s, s + 1, b, 2, device=x.device)
    padded = F.pad(x, (s, s, s, s))
    rows = (torch.arange(h, device=x.device)[None] + s - shift[:, :1]).clamp(0, h + 2 * s - 1)   # (b, h)
    cols = (torch.arange(w, device=x.device)[None] + s - shift[:, 1:]).clamp(0, w + 2 * s - 1)   # (b, w)
    idx_b = torch.arange(b, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[idx_b, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def _cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = batch_randint(0, h + 1 - ch % 2, b, 1, 1, device=x.device) - ch // 2   # may overhang the border
    left = batch_randint(0, w + 1 - cw % 2, b, 1, 1, device=x.device) - cw // 2
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    inside = (ys >= top) & (ys < top + ch) & (xs >= left) & (xs < left + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


AUGMENTS = {"color": _color, "translation": _translation, "cutout": _cutout}


def diff_augment(x: Tensor, policy: str) -> Tensor:
    """Apply the comma-separated ``policy`` (``"color,translation,cutout"``) to an NCHW batch."""
    for name in [p.strip() for p in policy.split(",") if p.strip()]:
        x = AUGMENTS[name](x)
    return x


# --- diagnostics ---------------------------------------------------------------------------
def mode_coverage(samples: Tensor, modes: Tensor, std: float, *, radius: float = 3.0,
                  min_fraction: float = 0.01) -> dict[str, float]:
    """``{"modes_covered", "n_modes", "high_quality"}`` of (N, D) samples against (K, D) mode means."""
    dist = torch.cdist(samples.double(), modes.double())          # (N, K)
    nearest, which = dist.min(1)
    good = nearest <= radius * std
    counts = torch.bincount(which[good], minlength=len(modes)).double()
    return {"modes_covered": int((counts >= min_fraction * len(samples)).sum()),
            "n_modes": len(modes), "high_quality": good.double().mean().item()}
