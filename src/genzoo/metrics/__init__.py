"""Evaluation metrics. Model-level metrics are registered by name (``gz.list_metrics()``).

Pure functions on (N, D) tensors or arrays (docs/metrics.md has the equations):
``fid_from_features``, ``kid_from_features``, ``prdc``, ``mmd``, ``energy_distance``,
``inception_score``; memorization and privacy: ``memorization_from_samples``, ``extraction_rate``,
``roc_auc``, ``tpr_at_fpr``, ``lira_offline_scores``; ``mode_coverage``; pairwise ratings in
``genzoo.metrics.pairwise`` (``rate``, ``bradley_terry``, ``elo``); the MOSES metrics of a list of
SMILES, ``molecules(smiles, reference="moses")`` (``molecule_metrics.py``, docs/molecules.md).
"""
from . import pairwise
from .extraction import extraction_rate
from .fid import fid_from_features, frechet_distance, gaussian_stats
from .inception_score import inception_score
from .kid import kid_from_features
from .memorization import memorization_from_samples
from .mia import lira_offline_scores, roc_auc, tpr_at_fpr
from .mmd import energy_distance, mmd
from .modes import mode_coverage
from .molecule_metrics import molecules
from .prdc import prdc

__all__ = ["fid_from_features", "frechet_distance", "gaussian_stats", "kid_from_features", "prdc", "mmd",
           "energy_distance", "inception_score", "memorization_from_samples", "extraction_rate", "roc_auc",
           "tpr_at_fpr", "lira_offline_scores", "mode_coverage", "pairwise", "molecules"]
