"""Mode coverage for 2-D Gaussian mixtures (Metz et al. 2017, Srivastava et al. 2017 "VEEGAN").

A sample is *high quality* when it lies within 3σ (Euclidean) of some mode centre; a mode is
*covered* when at least 1% of all samples are high-quality samples assigned to it. Reports
``modes`` (covered count), ``modes_total`` and ``high_quality`` (fraction of samples within 3σ).
Needs ``data.info["modes"]`` (K, 2) and ``data.info["mode_std"]`` (8gaussians, 25gaussians, ...).
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import ConfigError
from ..registry import register_metric
from ._checks import as_features


def mode_coverage(samples, modes, mode_std: float, radius_stds: float = 3.0, min_fraction: float = 0.01) -> dict:
    """Covered modes and the high-quality fraction of (N, 2) samples around (K, 2) mode centres."""
    x = as_features(samples, "samples")
    centres = as_features(modes, "modes")
    dist, nearest = torch.cdist(x, centres).min(1)
    good = dist <= radius_stds * mode_std
    counts = torch.bincount(nearest[good], minlength=len(centres))
    return {"modes": int((counts >= min_fraction * len(x)).sum()), "modes_total": len(centres),
            "high_quality": float(good.double().mean())}


@register_metric("modes")
def modes_metric(model, data, **kw) -> dict:
    """Mode coverage of model samples (or ``samples=``) on a 2-D mixture dataset."""
    from .sample_metrics import feature_sets

    if "modes" not in data.info or "mode_std" not in data.info:
        raise ConfigError(f"dataset {data.name!r} has no known modes; use a mixture such as 8gaussians or 25gaussians")
    fake: Tensor = feature_sets(model, data, feature_extractor="raw", **{k: v for k, v in kw.items()
                                                                        if k != "feature_extractor"}).fake
    return mode_coverage(fake, data.info["modes"], data.info["mode_std"])
