"""Evaluation metrics. Model-level metrics are registered by name (``gz.list_metrics()``).

Pure feature-space functions take (N, D) tensors or arrays (docs/metrics.md has the equations):
``fid_from_features``, ``kid_from_features``, ``prdc``, ``mmd``, ``energy_distance``,
``inception_score``.
"""
from .fid import fid_from_features, frechet_distance, gaussian_stats
from .inception_score import inception_score
from .kid import kid_from_features
from .mmd import energy_distance, mmd
from .prdc import prdc

__all__ = ["fid_from_features", "frechet_distance", "gaussian_stats", "kid_from_features", "prdc", "mmd",
           "energy_distance", "inception_score"]
