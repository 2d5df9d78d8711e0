"""WAV files in and out through ``soundfile`` (libsndfile).

``write_wav(path, clips, sample_rate)`` writes 16-bit PCM mono: one clip, or several joined with
``gap`` seconds of silence between them (one listenable file for ``genzoo sample --out x.wav``).
``read_wav(path, sample_rate, length)`` reads mono float32 in [-1, 1]; every problem is one line:
a file that is not WAV (by content, not only by name), a different sample rate (resampled with a
warning through ``scipy.signal.resample_poly`` -- polyphase, anti-aliased -- or an error naming both
rates when ``resample=False``), or a clip of the wrong length. Stereo is averaged to mono.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError, DataError


def _soundfile():
    try:
        import soundfile
    except ImportError:
        raise ConfigError("audio files need the soundfile package: pip install 'genzoo[audio]'") from None
    return soundfile


def write_wav(path, clips: Tensor, sample_rate: int, gap: float = 0.1) -> Path:
    """Write (N, 1, L), (N, L) or (L,) waveforms in [-1, 1] as one 16-bit mono WAV file."""
    sf = _soundfile()
    path = Path(path)
    if path.suffix.lower() != ".wav":
        raise ConfigError(f"{path}: audio is written as .wav; give a path ending in .wav")
    x = clips.detach().float().cpu()
    if x.dim() == 3:
        if x.shape[1] != 1:
            raise DataError(f"write_wav takes mono clips (N, 1, L), got {tuple(x.shape)}")
        x = x[:, 0]
    x = x.reshape(-1, x.shape[-1]).clamp(-1, 1)
    silence = torch.zeros(x.shape[0], int(round(gap * sample_rate)))
    joined = torch.cat([x, silence], 1).reshape(-1)[:-silence.shape[1] or None] if len(x) > 1 else x[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), joined.numpy(), int(sample_rate), subtype="PCM_16", format="WAV")
    return path


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Polyphase resampling (scipy.signal.resample_poly) by the reduced ratio rate_out / rate_in."""
    from scipy.signal import resample_poly

    g = math.gcd(int(rate_in), int(rate_out))
    return resample_poly(x, rate_out // g, rate_in // g).astype(np.float32)


def read_wav(path, sample_rate: int | None = None, length: int | None = None, *, resample_ok: bool = True) -> Tensor:
    """One mono clip (L,) float32 from a WAV file; see the module docstring for the checks."""
    sf = _soundfile()
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError):
        raise DataError(f"{path}: not a WAV file (soundfile cannot read it)") from None
    if info.format != "WAV":
        raise DataError(f"{path}: a {info.format} file, not WAV; convert it to .wav")
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    x = data.mean(1)
    if sample_rate is not None and rate != sample_rate:
        if not resample_ok:
            raise DataError(f"{path}: sample rate {rate} Hz, expected {sample_rate} Hz; resample the file")
        warnings.warn(f"{path}: sample rate {rate} Hz resampled to {sample_rate} Hz", stacklevel=2)
        x = resample(x, rate, sample_rate)
    if length is not None and len(x) != length:
        have = f"{len(x)} samples ({len(x) / (sample_rate or rate):.3f} s)"
        raise DataError(f"{path}: {have}, expected {length} samples ({length / (sample_rate or rate):.3f} s); trim or pad the clip")
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
