"""Name -> class registries for models, datasets and metrics.

Model modules in ``genzoo.models`` register themselves with ``@register_model("name")``; they are
discovered by importing every module of that package on first use, so adding a file adds a model
everywhere (CLI, ``gz.build``, the leaderboard) with no edits elsewhere. ``get(name)`` first imports
only the module that the stored catalog (catalog.py) names for ``name``, so ``gz.build("nsf")``
does not import every family.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from .errors import unknown_name


class Registry:
    """A name -> object mapping that can discover its entries by importing a package."""

    def __init__(self, kind: str, package: str | None = None):
        self.kind = kind
        self.package = package
        self._entries: dict[str, Any] = {}
        self._discovered = package is None

    def register(self, name: str) -> Callable[[Any], Any]:
        def decorator(obj: Any) -> Any:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return decorator

    def discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        pkg = importlib.import_module(self.package)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=pkg.__name__ + "."):
            importlib.import_module(info.name)

    def _import_hint(self, name: str) -> None:
        """Import the module the stored catalog names for ``name`` (catalog.py); no-op if unknown."""
        from .catalog import module_of

        module = module_of(self.kind, name)
        if module is not None and module.startswith(self.package + "."):
            try:
                importlib.import_module(module)
            except ImportError:
                pass  # a stale hint: discover() imports every module and reports real errors

    def names(self) -> list[str]:
        self.discover()
        return sorted(self._entries)

    def get(self, name: str) -> Any:
        if name not in self._entries and not self._discovered:
            self._import_hint(name)  # import only the module that registers ``name``
        if name not in self._entries:
            self.discover()
        if name not in self._entries:
            raise unknown_name(self.kind, name, self._entries)
        return self._entries[name]

    def __contains__(self, name: str) -> bool:
        self.discover()
        return name in self._entries

    def items(self):
        self.discover()
        return sorted(self._entries.items())


MODELS = Registry("model", "genzoo.models")
DATASETS = Registry("dataset", "genzoo.data")
METRICS = Registry("metric", "genzoo.metrics")

register_dataset = DATASETS.register
register_metric = METRICS.register


def register_model(name: str):
    """Class decorator: ``@register_model("realnvp")`` sets ``model_type`` and registers the class."""

    def decorator(cls):
        cls.model_type = name
        return MODELS.register(name)(cls)

    return decorator


#: saved model types that ``gz.load`` reads but that are not generative families (they do not sample,
#: so they stay out of ``genzoo list``, the leaderboard and the contract suite): type -> "module:Class"
AUXILIARY_MODELS = {"gpt-reward": "genzoo.finetune.reward:GPTRewardModel"}


def model_class(model_type: str):
    """The class that loads a saved ``model_type``: a registered family or an auxiliary model; None if unknown."""
    if model_type in AUXILIARY_MODELS:
        module, name = AUXILIARY_MODELS[model_type].split(":")
        return getattr(importlib.import_module(module), name)
    return MODELS.get(model_type) if model_type in MODELS else None


def list_models() -> list[str]:
    return MODELS.names()


def list_datasets() -> list[str]:
    return DATASETS.names()


def list_metrics() -> list[str]:
    return METRICS.names()
