"""The shipped note classifier: pitch and timbre of a clip, and a 64-d embedding for FAD-notes.

Input features of a mono clip at 8 kHz (other rates are resampled by the caller, ``wav.resample``):

    S = |STFT(x)|, Hann window, n_fft = 1024 (7.8 Hz bins), hop 256
    profile = mean_t log(S + 1e-4) over the bins below 2 kHz (256 values)
    envelope = log RMS of the frames, average-pooled to 16 values (attack / decay / release)

    [profile, envelope] -> Linear(272, 256) -> ReLU -> Linear(256, 64) = embedding f(x)
      f -> ReLU -> Linear(64, 12) = pitch logits ; Linear(64, 4) = timbre logits

The profile ignores when in the clip a partial sounds and the envelope ignores its frequency, so
pitch comes from where the harmonics are and timbre from their weights and the envelope.
``forward`` returns (f(x), joint logits over the 48 ``notes`` labels pitch · 4 + timbre, = log
p(pitch) + log p(timbre)), the Embedder contract of ``metrics.sample_metrics``. Trained by
``scripts/train_audio_classifier.py`` (fixed seed, one thread); weights ship as safetensors.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import CheckpointError, DataError
from .classifier import extractor_meta, with_weights

WEIGHTS = Path(__file__).parent / "weights" / "notes.safetensors"
RATE, N_FFT, HOP, MAX_HZ, ENV_FRAMES = 8000, 1024, 256, 2000, 16


def note_features(x: Tensor) -> Tensor:
    """(N, 1, L) or (N, L) clips at 8 kHz -> (N, 272) [log-spectral profile, log-RMS envelope]."""
    x = x.reshape(len(x), -1).float()
    if x.shape[1] < N_FFT // 2 + 1:
        raise DataError(f"clips of {x.shape[1]} samples are too short for the note classifier (at least {N_FFT // 2 + 1})")
    spec = torch.stft(x, N_FFT, HOP, window=torch.hann_window(N_FFT, device=x.device), return_complex=True).abs()
    bins = int(MAX_HZ * N_FFT / RATE)
    profile = torch.log(spec[:, :bins] + 1e-4).mean(2)
    rms = spec.square().mean(1).add(1e-8).log() / 2
    envelope = F.adaptive_avg_pool1d(rms[:, None], ENV_FRAMES)[:, 0]
    return torch.cat([profile, envelope], 1)


class NoteClassifier(nn.Module):
    def __init__(self, n_pitches: int = 12, n_timbres: int = 4, hidden: int = 256, num_features: int = 64):
        super().__init__()
        self.n_pitches, self.n_timbres, self.num_features = n_pitches, n_timbres, num_features
        in_dim = int(MAX_HZ * N_FFT / RATE) + ENV_FRAMES
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("std", torch.ones(in_dim))
        self.body = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, num_features))
        self.pitch_head = nn.Linear(num_features, n_pitches)
        self.timbre_head = nn.Linear(num_features, n_timbres)
        self.label, self.batch_size = "FAD-notes", 500

    def embed(self, x: Tensor) -> Tensor:
        return self.body((note_features(x) - self.mean) / self.std)

    def heads(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(embedding, pitch logits, timbre logits)."""
        f = self.embed(x)
        h = F.relu(f)
        return f, self.pitch_head(h), self.timbre_head(h)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        f, p, t = self.heads(x)
        joint = p.log_softmax(1)[:, :, None] + t.log_softmax(1)[:, None, :]
        return f, joint.flatten(1)


def save_note_classifier(net: NoteClassifier, path=WEIGHTS, **meta) -> None:
    from safetensors.torch import save_file

    meta = {"n_pitches": net.n_pitches, "n_timbres": net.n_timbres, "num_features": net.num_features,
            "sample_rate": RATE, **meta}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path),
              metadata={"genzoo_extractor": json.dumps(meta)})


@functools.lru_cache(maxsize=2)
def load_note_classifier(path=WEIGHTS) -> NoteClassifier:
    """The shipped classifier (frozen, eval mode), or one saved by ``save_note_classifier``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no note classifier weights at {path}; retrain with scripts/train_audio_classifier.py")
    meta = extractor_meta(path)
    net = NoteClassifier(meta.get("n_pitches", 12), meta.get("n_timbres", 4), num_features=meta.get("num_features", 64))
    return with_weights(net, path, meta)
