"""Audio sample metrics, judged by the shipped note classifier (``genzoo.features.audio``).

Registered names (one function, so ``--metrics pitch_accuracy,fad,lsd`` samples once):

- ``pitch_accuracy`` / ``timbre_accuracy``: share of generated clips whose classifier pitch
  (timbre) is the one the model was asked for. The model is asked for the labels of the real
  split in order (cycled to ``num_samples``), so the label mix matches the real set.
- ``fad`` ("FAD-notes"): Fréchet distance (``metrics.fid.fid_from_features``) between the classifier's
  64-d embeddings of real and generated clips -- a FAD analogue in a small note-specific space, not
  comparable with VGGish FAD.
- ``lsd``: log-spectral distance in dB to the real notes of the same label,
  LSD = mean_i sqrt(mean_f (10 log10 P_i(f) - 10 log10 P̄_{y_i}(f))²), P_i the time-averaged power
  spectrum of clip i (Hann, n_fft 1024) and P̄_y the mean spectrum of the real clips of label y
  (all real clips for unlabelled data).

``samples=`` (or a tensor in place of the model) scores given clips; ``labels=`` says what they
were asked to be (default 0, 1, 2, ... mod K, the models' default order). Clips at another sample
rate than 8 kHz are resampled for the classifier.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import ConfigError, DataError, NotSupported
from ..registry import register_metric
from .fid import fid_from_features


def _at_classifier_rate(x: Tensor, rate: int) -> Tensor:
    from ..data.wav import resample
    from ..features.audio import RATE

    if rate == RATE:
        return x
    return torch.from_numpy(resample(x.reshape(len(x), -1).numpy(), rate, RATE))


def _classify(x: Tensor, rate: int, batch: int = 500) -> tuple[Tensor, Tensor, Tensor]:
    from ..features.audio import load_note_classifier

    net = load_note_classifier()
    x = _at_classifier_rate(x.detach().float().cpu(), rate)
    with torch.no_grad():
        parts = [net.heads(chunk) for chunk in x.split(batch)]
    return tuple(torch.cat(p) for p in zip(*parts))


def log_power_db(x: Tensor, n_fft: int = 1024) -> Tensor:
    """(N, F) time-averaged power spectra in dB of (N, 1, L) clips (Hann window, hop n_fft / 4)."""
    x = x.reshape(len(x), -1).float()
    n_fft = min(n_fft, 2 ** (x.shape[1].bit_length() - 1))
    spec = torch.stft(x, n_fft, n_fft // 4, window=torch.hann_window(n_fft), return_complex=True)
    return 10 * torch.log10(spec.abs().square().mean(2) + 1e-10)


def log_spectral_distance(fake: Tensor, fake_labels: Tensor | None, real: Tensor, real_labels: Tensor | None) -> float:
    """Mean LSD (dB) of each fake clip to the mean real spectrum of its label (see the module docstring)."""
    real_db, fake_db = log_power_db(real), log_power_db(fake)
    if real_labels is None or fake_labels is None:
        ref = real_db.mean(0, keepdim=True).expand_as(fake_db)
    else:
        k = int(max(real_labels.max(), fake_labels.max())) + 1
        sums = torch.zeros(k, real_db.shape[1]).index_add_(0, real_labels, real_db)
        counts = torch.bincount(real_labels, minlength=k).clamp_min(1)[:, None]
        means = sums / counts
        missing = torch.bincount(real_labels, minlength=k)[fake_labels] == 0
        ref = torch.where(missing[:, None], real_db.mean(0), means[fake_labels])
    return (fake_db - ref).square().mean(1).sqrt().mean().item()


def _generate(model, labels: Tensor | None, n: int, generator, batch: int) -> Tensor:
    out = []
    with torch.no_grad():
        for start in range(0, n, batch):
            y = None if labels is None else labels[start:start + batch]
            out.append(model.sample(min(batch, n - start), generator=generator, y=y).detach().float().cpu())
    return torch.cat(out)


def audio_metrics(model, data, *, samples: Tensor | None = None, labels=None, num_samples: int | None = None,
                  generator: torch.Generator | None = None, seed: int = 0, sample_batch_size: int = 64,
                  max_examples: int | None = None, **_) -> dict:
    """``pitch_accuracy``, ``timbre_accuracy`` (labelled notes), ``fad`` and ``lsd``; see the module docstring."""
    if data.kind != "audio":
        raise NotSupported(f"audio metrics score audio; {data.name!r} is {data.kind} data")
    if isinstance(model, Tensor) and samples is None:
        model, samples = None, model
    real = data.x[:max_examples] if max_examples else data.x
    real_y = None if data.y is None else data.y[:len(real)]
    k = data.num_classes
    if samples is None:
        if model is None:
            raise ConfigError("pass a model or samples=<tensor of generated clips>")
        n = num_samples or len(real)
        labels = None if real_y is None else real_y[torch.arange(n) % len(real_y)]
        if getattr(model.config, "num_classes", None) is None:
            labels = None  # an unconditional model: accuracies are against nothing asked for
        samples = _generate(model, labels, n, generator or torch.Generator().manual_seed(seed), sample_batch_size)
    elif labels is None and k:
        labels = torch.arange(len(samples)) % k
    if tuple(samples.shape[1:]) != tuple(data.shape):
        raise DataError(f"samples have shape {tuple(samples.shape[1:])} per clip but {data.name!r} has {data.shape}")
    labels = None if labels is None else torch.as_tensor(labels).long().reshape(-1)
    rate = int(data.info.get("sample_rate", 8000))
    real_f, _, _ = _classify(real, rate)
    fake_f, pitch_logits, timbre_logits = _classify(samples, rate)
    out = {"fad": fid_from_features(real_f, fake_f), "fad_feature_extractor": "FAD-notes",
           "lsd": log_spectral_distance(samples, labels, real, real_y if labels is not None else None)}
    t = data.info.get("n_timbres")
    if labels is not None and t:
        out["pitch_accuracy"] = (pitch_logits.argmax(1) == torch.div(labels, t, rounding_mode="floor")).float().mean().item()
        out["timbre_accuracy"] = (timbre_logits.argmax(1) == labels % t).float().mean().item()
    return out


for _name in ("pitch_accuracy", "timbre_accuracy", "fad", "lsd"):
    register_metric(_name)(audio_metrics)
