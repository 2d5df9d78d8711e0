"""genzoo: every family of generative model under one API (see DESIGN / docs/architecture.md)."""
from .errors import CheckpointError, ConfigError, DataError, GenzooError, NotSupported, TrainingDiverged
from .model import GenerativeModel, ModelConfig
from .registry import list_datasets, list_metrics, list_models, register_model
from .serialization import GENZOO_VERSION as __version__
from .data import GenDataset, load_dataset
from .api import build, evaluate, load

__all__ = [
    "GenerativeModel", "ModelConfig", "Trainer", "GenDataset",
    "build", "load", "evaluate", "load_dataset",
    "list_models", "list_datasets", "list_metrics", "register_model",
    "GenzooError", "NotSupported", "ConfigError", "DataError", "CheckpointError", "TrainingDiverged",
]


def __getattr__(name: str):
    # the Trainer (and its plotting stack) is imported on first use to keep `import genzoo` light
    if name == "Trainer":
        from .training import Trainer

        return Trainer
    if name == "pipeline":  # gz.pipeline("text-generation", model=DIR), like transformers
        from .pipelines import pipeline

        return pipeline
    if name in ("metrics", "models", "pipelines", "samplers", "objectives", "nn", "leaderboard"):
        import importlib  # gz.metrics.fid_from_features(...) without importing it eagerly

        return importlib.import_module("." + name, __name__)
    raise AttributeError(f"module 'genzoo' has no attribute {name!r}")
