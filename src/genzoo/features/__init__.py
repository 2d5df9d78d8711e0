"""Feature extractors for feature-space metrics (FID, KID, PRDC, ...).

``extractor_for(data)`` picks the shipped classifier for a built-in image set: ``digits*`` ->
"digits", ``shapes*`` -> "shapes" (labels "FID-digits" / "FID-shapes", never "Inception FID");
video sets ``moving-*`` get their 3-D-conv clip classifier (``video.py``).
"""
import functools
from pathlib import Path

from .classifier import SmallConvNet, load_extractor, save_extractor
from .inception import FIDInceptionV3, load_inception
from .video import VIDEO_EXTRACTORS, load_video_extractor

EXTRACTOR_FOR_DATASET = {"digits": "digits", "digits16": "digits", "shapes": "shapes", "digits-captions": "digits",
                         "shapes-captions": "shapes", "moving-digits": "moving-digits", "moving-shapes": "moving-shapes"}


def extractor_name_for(dataset_name: str) -> str | None:
    """Name of the shipped extractor for a dataset (``*-bin`` variants and class subsets such as
    ``digits[3]`` share their base's), or None."""
    base = dataset_name.split("[", 1)[0].removesuffix("-bin")
    return EXTRACTOR_FOR_DATASET.get(base)


@functools.lru_cache(maxsize=4)
def load_feature_extractor(spec):
    """A shipped name ("digits", "shapes"), a genzoo extractor file, ``inception:PATH`` or an
    Inception-v3 weights file (``.pth``/``.pt``, or ``.safetensors`` without genzoo metadata).
    Cached: the same spec returns the same (frozen, eval-mode) module."""
    spec = str(spec)
    if spec in VIDEO_EXTRACTORS:
        return load_video_extractor(spec)
    if spec.startswith("inception:"):
        return load_inception(spec[len("inception:"):])
    path = Path(spec)
    if path.suffix in (".pth", ".pt"):
        return load_inception(path)
    if path.suffix == ".safetensors" and path.is_file():
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            if "genzoo_extractor" not in (f.metadata() or {}):
                return load_inception(path)
    return load_extractor(spec)


__all__ = ["SmallConvNet", "FIDInceptionV3", "load_extractor", "save_extractor", "load_inception",
           "load_feature_extractor", "extractor_name_for", "EXTRACTOR_FOR_DATASET"]
