"""Top-level helpers: ``gz.build``, ``gz.load``, ``gz.evaluate``."""
from __future__ import annotations

from typing import Any

from .model import GenerativeModel
from .registry import MODELS


def build(name: str, data=None, **overrides: Any) -> GenerativeModel:
    """Build a registered model; its config is derived from ``data`` (a dataset or its name).

    Precedence: ``overrides`` > the family's tuned defaults for the data kind (``kind_defaults``) >
    the config dataclass's defaults.
    """
    from .data import load_dataset

    cls = MODELS.get(name)
    if isinstance(data, str):
        data = load_dataset(data, split="train")
    defaults = cls.config_defaults_for_kind(getattr(data, "kind", None))
    model = cls(cls.config_for_data(data, **{**defaults, **overrides}))
    if data is not None:
        if getattr(data, "info", {}).get("transform") is not None:  # a mixed-type table (data/tables.py)
            model.table_transform = data.info["transform"]
        model.attach_data(data)
    return model


def load(path, device: str = "cpu", base=None) -> GenerativeModel:
    """Load a saved model (any family) from a directory: a genzoo run or ``save_pretrained``
    directory, a transformers GPT-2 directory, a diffusers DDPM/DDIM pipeline or UNet2DModel
    directory, or an adapter directory (its recorded base, or ``base``, with the adapter loaded;
    ``genzoo.formats``); anything else is a one-line ``CheckpointError``."""
    from .formats import load_any

    return load_any(path, device=device, base=base)


def evaluate(model, data, metrics=("nll",), **kw: Any) -> dict[str, float]:
    """Evaluate a model (or samples) on a dataset; returns a flat ``{metric: value}`` dict."""
    from .evaluation import evaluate as _evaluate

    return _evaluate(model, data, metrics=metrics, **kw)
