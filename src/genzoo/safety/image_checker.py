"""An image safety checker for generated images, in the manner of diffusers' ``safety_checker``.

``ClassifierSafetyChecker(forbidden=[7], threshold=0.5)`` scores each image with one of genzoo's
shipped classifiers (``genzoo.features.classifier``: ``digits`` on 1x16x16, ``shapes`` on 3x16x16;
smaller images are upsampled) as the probability of the forbidden classes,

    s(x) = Σ_{c ∈ forbidden} softmax(f(x))_c ,      flagged  ⇔  s(x) ≥ threshold,

and ``apply_safety_checker`` replaces flagged images by black ones (every pixel −1 in the model's
[−1, 1] range, 0 after ``to_output``), returning the flags as diffusers returns
``nsfw_content_detected``. Any callable ``images -> (flags, scores)`` can stand in for the checker.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import torch
from torch import Tensor

from ..errors import ConfigError, DataError


@dataclasses.dataclass
class SafetyResult:
    """``flags`` (N,) bool, ``scores`` (N,) forbidden-class probability, ``predicted`` (N,) class."""

    flags: Tensor
    scores: Tensor
    predicted: Tensor


class ClassifierSafetyChecker:
    """Flags images a shipped classifier assigns to a forbidden class (see the module docstring)."""

    def __init__(self, forbidden: Iterable[int | str], threshold: float = 0.5, classifier: str = "digits"):
        from ..features.classifier import load_extractor

        self.net = load_extractor(classifier)
        self.class_names = [str(c) for c in range(self.net.num_classes)]
        if classifier == "shapes":
            from ..data.shapes import CLASSES

            self.class_names = list(CLASSES)
        self.forbidden = sorted({self._index(c) for c in forbidden})
        if not self.forbidden:
            raise ConfigError("the safety checker needs at least one forbidden class")
        if not 0.0 < float(threshold) <= 1.0:
            raise ConfigError(f"safety threshold must be in (0, 1], got {threshold}")
        self.threshold = float(threshold)

    def _index(self, c) -> int:
        s = str(c).strip()
        if s in self.class_names:
            return self.class_names.index(s)
        if s.isdigit() and int(s) < len(self.class_names):
            return int(s)
        raise ConfigError(f"unknown class {c!r} for the {self.net.label} classifier; classes: {', '.join(self.class_names)}")

    @torch.no_grad()
    def __call__(self, images: Tensor) -> SafetyResult:
        """``images``: (N, C, H, W) in [−1, 1]."""
        if not isinstance(images, Tensor) or images.dim() != 4 or not images.is_floating_point():
            raise DataError("the safety checker takes a batch of images: a float tensor (N, C, H, W) in [-1, 1]")
        if images.shape[1] not in (1, self.net.in_channels):
            raise DataError(f"the {self.net.label} safety classifier takes {self.net.in_channels}-channel images, "
                            f"got {images.shape[1]} channels")
        _, logits = self.net(images.detach().float().cpu())
        probs = logits.softmax(-1)
        scores = probs[:, self.forbidden].sum(-1)
        return SafetyResult(scores >= self.threshold, scores, probs.argmax(-1))


def apply_safety_checker(checker, images: Tensor) -> tuple[Tensor, list[bool] | None]:
    """``(images with flagged ones blacked out, flags)``; ``(images, None)`` when ``checker`` is None."""
    if checker is None:
        return images, None
    res = checker(images)
    flags = res.flags if isinstance(res, SafetyResult) else res[0]
    flags = torch.as_tensor(flags, dtype=torch.bool).reshape(-1).to(images.device)
    if len(flags) != len(images):
        raise DataError(f"the safety checker returned {len(flags)} flags for {len(images)} images")
    black = torch.full_like(images, -1.0)
    return torch.where(flags.view(-1, *([1] * (images.dim() - 1))), black, images), flags.tolist()


def report_blackout(checker, samples: Tensor, model_type: str = "model") -> Tensor:
    """``genzoo sample --safety-forbid``: black out flagged images and print how many there were."""
    if samples.dim() != 4 or not samples.is_floating_point():
        raise ConfigError(f"--safety-forbid checks images; this {model_type} model generates samples of shape "
                          f"{tuple(samples.shape[1:])}")
    out, flags = apply_safety_checker(checker, samples)
    classes = ", ".join(checker.class_names[c] for c in checker.forbidden) if hasattr(checker, "forbidden") else "?"
    print(f"safety checker: {sum(flags)} of {len(flags)} images flagged (forbidden: {classes}) and blacked out")
    return out
