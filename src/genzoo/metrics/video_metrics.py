"""Metrics of generated video clips (``moving-digits`` / ``moving-shapes``), judged by shipped classifiers.

Registered names (``genzoo eval RUN --data moving-digits --metrics fvd,direction_accuracy,...``); each is
``fn(model, data, *, num_samples=None, seed=0, samples=None, sample_batch_size=128, guidance_scale=None, **kw)``:

- ``fvd``: "FVD-moving", the Fréchet distance (``fid.py``) between Gaussians fitted to the 64-d features
  of the shipped 3-D-conv clip classifier (``features/video.py``) on real and generated clips (after
  Unterthiner et al. 2018's FVD, with a small domain classifier instead of I3D).
- ``direction_accuracy``: share of clips of a label-conditional model, sampled for directions
  ``0, 1, ..., 7, 0, ...``, that the clip classifier assigns to the direction asked for;
  ``direction_accuracy_real`` is the classifier's accuracy on the real clips (the ceiling).
- ``frame_consistency``: mean cosine similarity of consecutive frames' features under the shipped frame
  classifier of the set (``moving-digits-frames``: a ``features/classifier.py`` net trained on single
  frames to name the digit / shape), and
  ``identity_consistency``: share of clips whose frames that classifier gives one class throughout;
  each with its ``*_real`` value on the real clips.
- ``prediction`` (models with ``context_frames = K``): from the first K frames of the first
  ``num_samples`` real clips, the model generates the other frames; ``prediction_mse`` (per pixel, on
  the generated frames, [-1, 1] scale), ``prediction_fvd`` (FVD-moving of the completed clips against
  all of ``data``), ``prediction_direction_accuracy`` and
  ``prediction_content_accuracy`` (the clip classifier keeps the true direction / digit or shape) and
  ``prediction_mse_static``: the MSE of the baseline that repeats the last context frame.

Generated clips are drawn once per (model state, n, seed) and shared by the metrics of one call.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.video import check_clips
from ..errors import ConfigError, NotSupported
from ..registry import register_metric
from ..utils import model_device
from .fid import fid_from_features
from .sample_metrics import _Memo, _versions, feature_sets

DEFAULT_SAMPLES = 1000
SPRITE_CLASSIFIER = {"moving-digits": "moving-digits-frames", "moving-shapes": "moving-shapes-frames"}


def _check_video(data, metric: str) -> None:
    if data.kind != "video":
        raise ConfigError(f"{metric} is a metric of video clips; {data.name!r} is {data.kind} data")


def clip_classifier(data, feature_extractor=None):
    from ..features import extractor_name_for, load_feature_extractor

    name = feature_extractor if isinstance(feature_extractor, str) else extractor_name_for(data.name)
    if name is None:
        raise ConfigError(f"no shipped clip classifier for dataset {data.name!r}; use moving-digits or moving-shapes")
    return load_feature_extractor(name)


def _draw(model, n: int, seed: int, batch_size: int, guidance_scale) -> tuple[Tensor, Tensor | None]:
    """``n`` clips from one seeded generator; a label-conditional model gets labels 0, 1, ..., K-1, 0, ..."""
    k = getattr(model.config, "num_classes", None)
    labels = None if k is None else torch.arange(n) % k
    gen = torch.Generator(model_device(model)).manual_seed(seed)
    out = []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            size = min(batch_size, n - start)
            kw = {} if labels is None else {"class_labels": labels[start:start + size], "guidance_scale": guidance_scale}
            out.append(model.sample(size, generator=gen, **kw).detach().cpu())
    return torch.cat(out), labels


def generated(model, data, *, samples: Tensor | None = None, num_samples: int | None = None, seed: int = 0,
              sample_batch_size: int = 128, guidance_scale: float | None = None, **_) -> tuple[Tensor, Tensor | None]:
    """(clips, the labels they were conditioned on or None): ``samples`` or fresh model samples (memoised)."""
    if isinstance(model, Tensor) and samples is None:
        model, samples = None, model
    if samples is not None:
        return check_clips(samples, data.shape[0], name="samples"), None
    if model is None:
        raise ConfigError("pass a model or samples=<tensor of generated clips>")
    n = num_samples or min(len(data), DEFAULT_SAMPLES)
    versions = _versions(*model.parameters(), *model.buffers())
    key = None if versions is None else (versions, n, seed, sample_batch_size, guidance_scale)
    return _Memo.get("video-clips", model, key, lambda: _draw(model, n, seed, sample_batch_size, guidance_scale))


@register_metric("fvd")
def fvd_metric(model, data, *, feature_extractor=None, **kw) -> dict:
    """FVD-moving: Fréchet distance of clip-classifier features (real: all of ``data``)."""
    _check_video(data, "fvd")
    clips, _ = generated(model, data, **kw)
    net = clip_classifier(data, feature_extractor)
    s = feature_sets(None, data, samples=clips, feature_extractor=net.label)
    return {"fvd": fid_from_features(s.real, s.fake), "fvd_feature_extractor": f"FVD-moving ({net.label})"}


@torch.no_grad()
def _directions(net, clips: Tensor, batch: int = 250) -> Tensor:
    return torch.cat([net(x)[1].argmax(1) for x in clips.split(batch)])


@register_metric("direction_accuracy")
def direction_accuracy_metric(model, data, *, feature_extractor=None, **kw) -> dict:
    """Share of label-conditioned clips whose motion the clip classifier reads as the label asked for."""
    _check_video(data, "direction_accuracy")
    clips, labels = generated(model, data, **kw)
    if labels is None:
        raise NotSupported("direction_accuracy needs a label-conditional model (num_classes = directions); "
                           "for a predictor use the 'prediction' metric")
    net = clip_classifier(data, feature_extractor)
    real = (_directions(net, data.x) == data.y).float().mean().item()
    return {"direction_accuracy": (_directions(net, clips) == labels).float().mean().item(),
            "direction_accuracy_real": real}


@torch.no_grad()
def consistency(clips: Tensor, net, batch: int = 1000) -> tuple[float, float]:
    """(mean cosine similarity of consecutive frames' features, share of clips with one class in every frame)."""
    n, t = clips.shape[:2]
    feats, classes = [], []
    for chunk in clips.flatten(0, 1).split(batch):
        f, logits = net(chunk)
        feats.append(f)
        classes.append(logits.argmax(1))
    f = torch.cat(feats).view(n, t, -1)
    c = torch.cat(classes).view(n, t)
    cos = F.cosine_similarity(f[:, 1:], f[:, :-1], dim=-1).mean().item()
    return cos, (c == c[:, :1]).all(1).float().mean().item()


@register_metric("frame_consistency")
@register_metric("identity_consistency")
def frame_consistency_metric(model, data, **kw) -> dict:
    """Frame-to-frame feature similarity and identity stability under the sprites' image classifier."""
    from ..features import load_feature_extractor

    _check_video(data, "frame_consistency")
    if data.name.split("[")[0] not in SPRITE_CLASSIFIER:
        raise ConfigError(f"no shipped frame classifier for {data.name!r}; use moving-digits or moving-shapes")
    net = load_feature_extractor(SPRITE_CLASSIFIER[data.name.split("[")[0]])
    clips, _ = generated(model, data, **kw)
    cos, same = consistency(clips, net)
    cos_real, same_real = consistency(data.x[:len(clips)], net)
    return {"frame_consistency": cos, "identity_consistency": same,
            "frame_consistency_real": cos_real, "identity_consistency_real": same_real}


@register_metric("prediction")
def prediction_metric(model, data, *, num_samples: int | None = None, seed: int = 0, sample_batch_size: int = 128,
                      feature_extractor=None, **_) -> dict:
    """Video prediction from the first ``context_frames`` real frames (see the module docstring)."""
    _check_video(data, "prediction")
    k = getattr(getattr(model, "config", None), "context_frames", 0)
    if not k:
        raise NotSupported("prediction needs a video model trained with context frames (--set context_frames=K)")
    real = data.x[: num_samples or min(len(data), DEFAULT_SAMPLES)]
    gen = torch.Generator(model_device(model)).manual_seed(seed)
    with torch.no_grad():
        pred = torch.cat([model.sample(len(x), context=x[:, :k], generator=gen).cpu()
                          for x in real.split(sample_batch_size)])
    net = clip_classifier(data, feature_extractor)
    with torch.no_grad():
        content = torch.cat([net.content_logits(x).argmax(1) for x in pred.split(250)])
    static = real[:, k - 1:k].expand(-1, real.shape[1] - k, *real.shape[2:])
    n = len(real)
    s = feature_sets(None, data, samples=pred, feature_extractor=net.label)
    return {"prediction_fvd": fid_from_features(s.real, s.fake),
            "prediction_mse": F.mse_loss(pred[:, k:], real[:, k:]).item(),
            "prediction_mse_static": F.mse_loss(static, real[:, k:]).item(),
            "prediction_direction_accuracy": (_directions(net, pred) == data.y[:n]).float().mean().item(),
            "prediction_content_accuracy": (content == data.content[:n]).float().mean().item(),
            "prediction_context_frames": float(k), "prediction_frames": float(real.shape[1] - k)}
