"""DWT-DCT invisible watermark: the baseline that Stable Diffusion XL ships (``invisible-watermark``,
imported as ``imwatermark``; Cox et al. 2007-style frequency-domain embedding).

``imwatermark``'s ``dwtDct`` method converts a BGR uint8 image to YUV, takes the one-level Haar DWT
of the U channel (the default ``scales = [0, 36, 36]`` leaves Y alone), cuts the approximation band
into 4x4 blocks, and in each block's DCT quantises the largest non-DC coefficient ``v`` to
``(floor(|v| / 36) + 1/4 + bit/2) * 36`` (sign kept), cycling through the message bits. Decoding reads
``bit = (|v| mod 36) > 18`` per block and averages the votes of the blocks that carry each bit.

Here the message is ``n_bits`` (48, as in SDXL) pseudo-random bits drawn from a ``torch.Generator``
seeded with the integer key, and detection tests the number of matching bits ``m`` against
H0 "not watermarked" (each bit matches with probability 1/2): ``p = P(Binomial(n, 1/2) >= m)``
(``scipy.stats.binom.sf``); watermarked when ``p < alpha``.

Size: imwatermark refuses images with fewer than 256 x 256 = 65,536 pixels (``r * c < 256 * 256``), so
smaller images are first upsampled by an integer nearest-neighbour factor ``s = ceil(256 / min(H, W))``
(16x16 -> 256x256); the watermarked image is the upsampled one (``upsample_factor``). Images are
(N, H, W, 3) RGB uint8 here (grey images are replicated to three channels; the watermark lives in the
chroma, so a grey image comes back faintly coloured).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import ConfigError, DataError

MIN_SIDE = 256  # imwatermark: r * c >= 256 * 256; a square image needs both sides >= 256
N_BITS = 48
DEFAULT_ALPHA = 0.01


def _imwatermark():
    try:
        import imwatermark
    except ImportError:
        raise ConfigError("the DWT-DCT watermark needs invisible-watermark: pip install 'genzoo[image-watermark]'") from None
    return imwatermark


def message_bits(key: int, n_bits: int = N_BITS) -> np.ndarray:
    """The key's ``n_bits`` message bits (uint8 0/1)."""
    if isinstance(key, bool) or not isinstance(key, int) or not 0 <= key < 2**63:
        raise ConfigError(f"watermark key must be an integer in [0, 2^63), got {key!r}")
    if not 1 <= n_bits <= 256:
        raise ConfigError(f"n_bits must be in 1..256, got {n_bits}")
    return torch.randint(0, 2, (n_bits,), generator=torch.Generator().manual_seed(key)).numpy().astype(np.uint8)


def upsample_factor(h: int, w: int) -> int:
    """The smallest integer nearest-neighbour factor that makes an H x W image big enough for imwatermark."""
    return max(1, math.ceil(MIN_SIDE / min(h, w)))


def as_rgb_batch(images) -> np.ndarray:
    """(N, H, W, 3) uint8 from (N, H, W), (N, H, W, 1) or (N, H, W, 3) uint8 arrays; checks the input."""
    arr = np.asarray(images)
    if arr.dtype != np.uint8:
        raise DataError(f"DWT-DCT works on uint8 images, got {arr.dtype}")
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3):
        raise DataError(f"DWT-DCT expects (N, H, W[, 1 or 3]) images, got shape {arr.shape}")
    if arr.shape[1] == 0 or arr.shape[2] == 0:
        raise DataError(f"empty images of shape {arr.shape}")
    return np.repeat(arr, 3, axis=-1) if arr.shape[-1] == 1 else arr


def upsample(images: np.ndarray) -> np.ndarray:
    """Nearest-neighbour upsampling to at least 256 x 256 (identity for images that are big enough)."""
    s = upsample_factor(images.shape[1], images.shape[2])
    return images if s == 1 else images.repeat(s, axis=1).repeat(s, axis=2)


def embed(images, key: int, n_bits: int = N_BITS) -> np.ndarray:
    """Watermark RGB uint8 images (N, H, W, 3); returns them upsampled to >= 256 x 256 where needed."""
    rgb = upsample(as_rgb_batch(images))
    enc = _imwatermark().WatermarkEncoder()
    enc.set_watermark("bits", message_bits(key, n_bits).tolist())
    out = [enc.encode(np.ascontiguousarray(im[..., ::-1]), "dwtDct")[..., ::-1] for im in rgb]
    return np.stack(out).astype(np.uint8) if out else rgb


def decode(images, n_bits: int = N_BITS) -> np.ndarray:
    """(N, n_bits) bool: the bits imwatermark reads from each image (upsampled first if too small)."""
    rgb = upsample(as_rgb_batch(images))
    dec = _imwatermark().WatermarkDecoder("bits", n_bits)
    bits = [np.asarray(dec.decode(np.ascontiguousarray(im[..., ::-1]), "dwtDct"), dtype=bool) for im in rgb]
    return np.stack(bits) if bits else np.zeros((0, n_bits), dtype=bool)


def detect(images, key: int, n_bits: int = N_BITS, alpha: float = DEFAULT_ALPHA) -> list[dict]:
    """Per image ``{"bit_accuracy", "p_value", "watermarked"}`` with the binomial test of the module docstring."""
    from scipy.stats import binom

    if not 0 < alpha < 1:
        raise ConfigError(f"alpha (the p-value threshold) must be in (0, 1), got {alpha}")
    arr = as_rgb_batch(images)
    want = message_bits(key, n_bits).astype(bool)
    matches = (decode(arr, n_bits) == want).sum(1)
    flat = arr.reshape(len(arr), arr[0].size if len(arr) else 0)
    blank = flat.max(1) == flat.min(1) if len(arr) else np.zeros(0, dtype=bool)
    out = []
    for m, b in zip(matches.tolist(), blank.tolist()):
        p = 1.0 if b else float(binom.sf(m - 1, n_bits, 0.5))
        out.append({"bit_accuracy": m / n_bits, "p_value": p, "watermarked": bool(p < alpha)})
    return out
