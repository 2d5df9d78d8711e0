"""Tree-Ring image watermark (Wen, Kirchenbauer, Geiping & Goldstein, NeurIPS 2023): ``Tree-Ring_Rand``
(the default) and ``Tree-Ring_Rings``.

Key (``pattern="rings"``). In one channel ``c`` of the initial DDIM noise ``x_T`` the centred, orthonormal 2-D Fourier
transform ``F = fftshift(fft2(x_T[c]))`` (centre ``k0 = (H//2, W//2)``, ``E|F_k|^2 = 1`` for unit white
noise) is overwritten inside the disc ``|k - k0| <= R`` by a pattern constant on concentric rings:
ring ``r = 1..R`` holds ``{k : r - 1 < |k - k0| <= r}`` (ring 1 includes the centre), each with one
real value ``kappa_r ~ N(0, 1)`` drawn from a CPU ``torch.Generator`` seeded with the integer key.
Real values on a centre-symmetric mask keep the spectrum Hermitian, so ``ifft2`` is real and the
pattern is in the sampled noise exactly; the other coefficients (and channels) stay Gaussian.
Images are sampled from it with deterministic DDIM (eta = 0).

Detection. DDIM-invert the image to ``y = x_T`` with the same model (unconditional: the null class for
class-conditional models), take ``Y = fftshift(fft2(y[c]))`` and

- the paper's distance: ``d = mean_{k in M} |Y_k - kappa_k|`` (L1 in the mask ``M``);
- its p-value (sec. 3.3): under H0 (no watermark) the masked coefficients are complex Gaussian with
  ``E|Y_k|^2 = sigma^2``, estimated by the mean square of ``y[c]`` (Parseval: the mean power of the
  whole spectrum). The paper's estimate, the mean power inside ``M``, correlates with ``eta`` and makes
  the test very conservative on small masks (0 of 4000 white-noise draws below p = 0.01 at R = 4,
  against 1 % nominal; 33 of 4000 with the whole spectrum). The inverted noise of a real image is
  not exactly white, so the p-value is only as calibrated as the inversion (docs/image_watermark.md
  reports the empirical false-positive rates). Counting each conjugate
  pair once (real and imaginary parts of variance ``sigma^2 / 2``) and the real centre coefficient
  (variance ``sigma^2``) once,
  ``eta = sum_pairs |Y_k - kappa_k|^2 / (sigma^2 / 2) + (Y_0 - kappa_0)^2 / sigma^2`` follows a
  non-central chi-square with ``2P + 1`` degrees of freedom and non-centrality
  ``lambda = sum_pairs kappa_k^2 / (sigma^2 / 2) + kappa_0^2 / sigma^2``; ``p = P(chi2 <= eta)``
  (``scipy.stats.ncx2.cdf``): small when ``Y`` sits closer to the key than chance allows.

An image is called watermarked when ``p < alpha`` (0.01 by default). H0 is "Gaussian noise in the
mask", so an image watermarked with *another* rings key also rejects it often: a rings key is only R
real numbers (58 % of wrong keys accepted even on exactly inverted noise; 20.6 % on the digits16 model
of ``benchmarks/image_watermark.py``, R = 4). ``pattern="rand"`` (the paper's Tree-Ring_Rand) writes an
independent complex Gaussian into every coefficient of the mask, as white noise would hold there
(conjugate-symmetric, the centre real): a wrong key is then just more noise, and on the same model
0.005 % of (image, wrong key) pairs are accepted while the own key still detects all 200 images
(docs/image_watermark.md); it gives up the rings' rotation invariance. Clean images are rejected either way. A blank (constant) image or a
degenerate inversion (sigma^2 ~ 0) is never called watermarked (p = 1).

Small images: a 16x16 channel has 256 coefficients; the default radius 4 marks 49 of them (1 + 48,
i.e. 24 conjugate pairs + the centre: 49 degrees of freedom); the radius must stay below
``min(H, W) / 2`` so the mask stays inside the spectrum and away from the unpaired Nyquist row/column.
"""
from __future__ import annotations

import dataclasses
import hashlib

import torch
from torch import Tensor

from ..errors import ConfigError, DataError
from ..utils import randn

DEFAULT_RADIUS = 4
DEFAULT_INVERSION_STEPS = 50
DEFAULT_ALPHA = 0.01
PATTERNS = ("rings", "rand")


@dataclasses.dataclass(frozen=True)
class TreeRingKey:
    """The secret: an integer ``key``, the ring ``radius`` R and the ``channel`` c it is written into."""

    key: int
    radius: int = DEFAULT_RADIUS
    channel: int = 0
    inner: int = 0  # rings 1..inner left free (0: the paper's full disc, centre included)
    pattern: str = "rand"  # "rand" (Tree-Ring_Rand, key-specific; the default) or "rings" (Tree-Ring_Rings)

    def __post_init__(self) -> None:
        if isinstance(self.key, bool) or not isinstance(self.key, int) or not 0 <= self.key < 2**63:
            raise ConfigError(f"watermark key must be an integer in [0, 2^63), got {self.key!r}")
        if isinstance(self.radius, bool) or not isinstance(self.radius, int) or self.radius < 1:
            raise ConfigError(f"watermark radius must be an integer >= 1, got {self.radius!r}")
        if isinstance(self.inner, bool) or not isinstance(self.inner, int) or not 0 <= self.inner < self.radius:
            raise ConfigError(f"watermark inner radius must be an integer in [0, radius), got {self.inner!r}")
        if self.pattern not in PATTERNS:
            raise ConfigError(f"watermark pattern must be one of {', '.join(PATTERNS)}, got {self.pattern!r}")

    @property
    def key_id(self) -> str:
        """A public id of this key for provenance manifests: 16 hex digits of a SHA-256 of the key and its
        ring geometry. It names the key without revealing it (the key cannot be recovered from it)."""
        text = f"genzoo/tree-ring/{self.key}/{self.radius}/{self.inner}/{self.channel}"
        text += "" if self.pattern == "rings" else f"/{self.pattern}"
        return "tree-ring:" + hashlib.sha256(text.encode()).hexdigest()[:16]

    def check_shape(self, shape) -> tuple[int, int, int]:
        """(C, H, W) of one image, checked against the radius and channel."""
        if len(shape) != 3:
            raise ConfigError(f"Tree-Ring watermarks images (C, H, W); this model makes examples of shape {tuple(shape)}")
        c, h, w = (int(s) for s in shape)
        if not 0 <= self.channel < c:
            raise ConfigError(f"watermark channel {self.channel} does not exist in {c}-channel images")
        if 2 * self.radius >= min(h, w):
            raise ConfigError(f"watermark radius {self.radius} does not fit a {h}x{w} spectrum; "
                              f"use a radius below {min(h, w) // 2}")
        return c, h, w


def ring_index(h: int, w: int) -> Tensor:
    """(H, W) integer ring number ``ceil(|k - k0|)`` (0 at the centre) in fftshift-ed coordinates."""
    ky = torch.arange(h, dtype=torch.float64) - h // 2
    kx = torch.arange(w, dtype=torch.float64) - w // 2
    dist = (ky[:, None] ** 2 + kx[None, :] ** 2).sqrt()
    return dist.ceil().long()


def key_pattern(key: TreeRingKey, h: int, w: int) -> tuple[Tensor, Tensor]:
    """(pattern, mask): the (H, W) complex key pattern and the boolean mask of rings ``inner < r <= R``
    (the disc ``|k - k0| <= R`` for ``inner = 0``) in the centred spectrum. ``rings``: one real
    N(0, 1) value per ring; ``rand``: an independent complex Gaussian per coefficient (E|kappa|^2 = 1, as
    white noise), conjugate-symmetric about the centre so the noise stays real, the centre real."""
    rings = ring_index(h, w).clamp(min=1)  # the centre belongs to ring 1, as in the paper's circle masks
    mask = (rings > key.inner) & (rings <= key.radius)
    generator = torch.Generator().manual_seed(key.key)
    if key.pattern == "rings":
        values = torch.randn(key.radius + 1, generator=generator, dtype=torch.float64)
        full = values[rings.clamp(max=key.radius)].to(torch.complex128)
    else:
        g = torch.randn(2, h, w, generator=generator, dtype=torch.float64) / 2 ** 0.5
        ky = torch.arange(h)[:, None] - h // 2
        kx = torch.arange(w)[None, :] - w // 2
        half = (ky > 0) | ((ky == 0) & (kx > 0))
        value = torch.complex(g[0], g[1])
        mirror = torch.flip(value, (0, 1)).roll((1 - h % 2, 1 - w % 2), (0, 1))  # the value at -k, conjugated below
        full = torch.where(half, value, mirror.conj())
        full[h // 2, w // 2] = g[0, h // 2, w // 2] * 2 ** 0.5  # the real centre coefficient, N(0, 1)
    pattern = torch.where(mask, full, torch.zeros((), dtype=torch.complex128))
    return pattern, mask


def spectrum(x: Tensor) -> Tensor:
    """Centred orthonormal 2-D FFT over the last two dimensions."""
    return torch.fft.fftshift(torch.fft.fft2(x.double(), norm="ortho"), dim=(-2, -1))


def watermarked_noise(shape, key: TreeRingKey | int, generator: torch.Generator | None = None,
                      device=None) -> Tensor:
    """Standard-normal noise of ``shape`` (N, C, H, W) with the key's rings written into channel c's spectrum."""
    key = key if isinstance(key, TreeRingKey) else TreeRingKey(key)
    _, h, w = key.check_shape(shape[1:])
    x = randn(shape, generator=generator, device=device)
    pattern, mask = key_pattern(key, h, w)
    f = spectrum(x[:, key.channel])
    f[:, mask] = pattern[mask].to(f.device, f.dtype)
    x[:, key.channel] = torch.fft.ifft2(torch.fft.ifftshift(f, dim=(-2, -1)), norm="ortho").real.to(x.dtype)
    return x


def sample_watermarked(model, n: int, key: TreeRingKey | int, *, generator: torch.Generator | None = None,
                       steps: int | None = None, **kw) -> Tensor:
    """``n`` images from a diffusion ``model`` sampled with deterministic DDIM from watermarked noise."""
    key = key if isinstance(key, TreeRingKey) else TreeRingKey(key)
    check_model(model)
    if kw.pop("sampler", None) not in (None, "ddim") or kw.pop("eta", None) not in (None, 0, 0.0):
        raise ConfigError("Tree-Ring samples with deterministic DDIM (sampler='ddim', eta=0), which detection inverts; "
                          "drop --sampler / eta")
    device = next(model.parameters()).device
    noise = watermarked_noise((n, *model.config.shape), key, generator, device=device)
    return model.sample(n, generator=generator, steps=steps, sampler="ddim", eta=0.0, noise=noise, **kw)


def check_model(model) -> None:
    if not (hasattr(model, "make_sampler") and getattr(model, "is_image", False)):
        raise ConfigError(f"Tree-Ring watermarks need an image diffusion model (ddpm); got {getattr(model, 'model_type', type(model).__name__)}")


@torch.no_grad()
def invert(model, images: Tensor, steps: int = DEFAULT_INVERSION_STEPS, batch_size: int = 256) -> Tensor:
    """DDIM inversion (eta = 0, ``steps`` steps, unconditional) of images in [-1, 1] to their ``x_T``."""
    from ..samplers.editing import ddim_invert

    check_model(model)
    sampler = model.make_sampler("ddim", steps, eta=0.0)
    device = next(model.parameters()).device
    out = []
    for chunk in images.split(batch_size):
        chunk = chunk.to(device, torch.float32)
        labels = None
        if model.config.num_classes is not None:  # unconditional = the null class
            labels = torch.full((len(chunk),), model.config.num_classes, device=device, dtype=torch.long)
        out.append(ddim_invert(model.guided_fn(labels, 1.0), sampler, chunk).cpu())
    return torch.cat(out) if out else images.new_zeros((0, *images.shape[1:]))


def score_latents(latents: Tensor, key: TreeRingKey) -> dict[str, Tensor]:
    """Distance and p-value of inverted latents (N, C, H, W) against ``key`` (see the module docstring)."""
    from scipy.stats import ncx2

    _, h, w = key.check_shape(latents.shape[1:])
    pattern, mask = key_pattern(key, h, w)
    y = latents[:, key.channel].double()
    f = spectrum(y)
    diff = f[:, mask] - pattern[mask]
    distance = diff.abs().mean(1)
    sigma2 = y.pow(2).mean((1, 2))  # = mean |Y_k|^2 over the whole spectrum (Parseval)
    ky = torch.arange(h)[:, None] - h // 2
    kx = torch.arange(w)[None, :] - w // 2
    half = ((ky > 0) | ((ky == 0) & (kx > 0)))[mask]       # one of each conjugate pair
    centre = ((ky == 0) & (kx == 0))[mask]
    kappa2 = pattern[mask].abs() ** 2
    eta = (2 * (diff.abs() ** 2)[:, half].sum(1) + (diff.real ** 2)[:, centre].sum(1)) / sigma2.clamp(min=1e-30)
    lam = (2 * kappa2[half].sum() + kappa2[centre].sum()) / sigma2.clamp(min=1e-30)
    df = 2 * int(half.sum()) + int(centre.sum())
    p = torch.as_tensor(ncx2.cdf(eta.numpy(), df, lam.numpy()), dtype=torch.float64)
    degenerate = ~(sigma2 > 1e-8) | ~torch.isfinite(eta)
    p = torch.where(degenerate, torch.ones_like(p), p)
    return {"distance": distance, "p_value": p, "degenerate": degenerate}


def detect(model, images: Tensor, key: TreeRingKey | int, *, steps: int = DEFAULT_INVERSION_STEPS,
           alpha: float = DEFAULT_ALPHA) -> list[dict]:
    """Per image ``{"distance", "p_value", "watermarked"}``: DDIM-invert, compare the rings (module docstring).

    ``images``: (N, C, H, W) in [-1, 1] at the model's resolution. Blank (constant) images are never
    called watermarked. N = 0 gives an empty list.
    """
    key = key if isinstance(key, TreeRingKey) else TreeRingKey(key)
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha (the p-value threshold) must be in (0, 1), got {alpha}")
    check_model(model)
    if images.ndim != 4 or tuple(images.shape[1:]) != tuple(model.config.shape):
        raise DataError(f"images of shape {tuple(images.shape)} do not match the model's (N, {', '.join(map(str, model.config.shape))})")
    key.check_shape(images.shape[1:])
    if len(images) == 0:
        return []
    if not torch.isfinite(images).all():
        raise DataError("images contain NaN or infinite values")
    scores = score_latents(invert(model, images, steps), key)
    flat = images.flatten(1)
    blank = (flat.max(1).values - flat.min(1).values) < 1e-6
    out = []
    for i in range(len(images)):
        p = 1.0 if blank[i] else float(scores["p_value"][i])
        out.append({"distance": float(scores["distance"][i]), "p_value": p,
                    "watermarked": bool(p < alpha and not blank[i] and not scores["degenerate"][i])})
    return out
