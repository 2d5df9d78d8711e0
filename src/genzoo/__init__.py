"""genzoo: every family of generative model under one API (see DESIGN / docs/architecture.md).

Only the errors, the registry functions and the version are imported with the package; every
other public name (``GenerativeModel``, ``build``, ``Trainer``, ...) is imported on first use
(PEP 562), so that ``import genzoo`` and ``genzoo --help`` / ``genzoo list`` do not pay for torch.
"""
import importlib

from ._version import GENZOO_VERSION as __version__
from .errors import CheckpointError, ConfigError, DataError, GenzooError, NotSupported, TrainingDiverged
from .registry import list_datasets, list_metrics, list_models, register_model

__all__ = [
    "GenerativeModel", "ModelConfig", "Trainer", "GenDataset",
    "build", "load", "evaluate", "load_dataset",
    "list_models", "list_datasets", "list_metrics", "register_model",
    "GenzooError", "NotSupported", "ConfigError", "DataError", "CheckpointError", "TrainingDiverged",
]

#: public name -> the submodule that defines it (imported on first access)
_LAZY = {
    "GenerativeModel": ".model", "ModelConfig": ".model",
    "GenDataset": ".data", "load_dataset": ".data",
    "build": ".api", "load": ".api", "evaluate": ".api",
    "Trainer": ".training",
    "pipeline": ".pipelines",  # gz.pipeline("text-generation", model=DIR), like transformers
}
_SUBPACKAGES = ("metrics", "models", "pipelines", "samplers", "objectives", "nn", "leaderboard", "data", "training")


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    if name in _SUBPACKAGES:  # gz.metrics.fid_from_features(...) without importing it eagerly
        return importlib.import_module("." + name, __name__)
    raise AttributeError(f"module 'genzoo' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_SUBPACKAGES))
