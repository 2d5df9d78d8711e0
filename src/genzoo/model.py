"""The model contract every family implements (DESIGN.md, "The model contract").

A model is a ``torch.nn.Module`` with a dataclass config. One-loss families implement ``loss``;
families whose training is a game or a loop of their own (GAN, EBM with replay buffer) set
``manual_optimization = True`` and implement ``configure_optimizers`` and ``training_step``.
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from .errors import ConfigError, NotSupported, did_you_mean


@dataclasses.dataclass
class ModelConfig:
    """Base of every model config: a JSON-serialisable dataclass."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ModelConfig":
        names = cls.field_names()
        unknown = [k for k in values if k not in names]
        if unknown:
            k = unknown[0]
            raise ConfigError(f"{cls.__name__} has no option {k!r}{did_you_mean(k, names)}")
        return cls(**{k: _coerce(cls, k, v) for k, v in values.items()})

    def replace(self, **overrides: Any) -> "ModelConfig":
        merged = {**self.to_dict(), **overrides}
        return type(self).from_dict(merged)


def _coerce(cls: type, name: str, value: Any) -> Any:
    """Convert CLI strings / JSON lists to the field's annotated type (int, float, bool, tuple)."""
    hints = typing.get_type_hints(cls)
    hint = hints.get(name)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None or value == "None":
            return None
        non_none = [a for a in args if a is not type(None)]
        hint = non_none[0] if non_none else hint
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    try:
        if isinstance(value, str):
            if hint is bool:
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            if hint in (int, float):
                return hint(value)
            if origin in (tuple, list):
                parts = [p for p in value.replace("(", "").replace(")", "").split(",") if p.strip()]
                elem = args[0] if args else int
                return origin(elem(p.strip()) for p in parts)
            return value
        if origin is tuple and isinstance(value, list):
            return tuple(value)
        if hint is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"option {name}={value!r} is not a valid {getattr(hint, '__name__', hint)}") from None
    return value


class GenerativeModel(nn.Module):
    """Base class of every genzoo model. Subclasses set ``config_class`` and register a name."""

    config_class: ClassVar[type[ModelConfig]] = ModelConfig
    model_type: ClassVar[str] = ""
    #: data kinds the family supports: "2d", "image", "text", "binary", "tabular"
    data_kinds: ClassVar[tuple[str, ...]] = ()
    #: what ``log_prob`` returns: "exact", "bound" (e.g. IWAE), "estimate" (e.g. AIS) or "none"
    log_prob_kind: ClassVar[str] = "exact"
    #: ``log_prob`` is a probability mass over discrete values (PixelCNN, GPT) rather than a density
    discrete_log_prob: ClassVar[bool] = False
    #: the family trains itself through ``training_step`` with its own optimizers
    manual_optimization: ClassVar[bool] = False
    #: default Trainer budget used by ``genzoo train`` and the leaderboard
    default_budget: ClassVar[dict[str, Any]] = {"steps": 2000, "batch_size": 256, "lr": 1e-3}
    #: the tuned defaults per data kind, on top of ``default_budget`` and the config's own defaults:
    #: ``{"2d": {"budget": {"steps": ..., "batch_size": ..., "lr": ...}, "config": {...}}}``; what
    #: ``genzoo train FAMILY --data NAME`` uses with no overrides (``--set``/``--steps`` still win)
    kind_defaults: ClassVar[dict[str, dict[str, dict[str, Any]]]] = {}

    def __init__(self, config: ModelConfig):
        super().__init__()
        if not isinstance(config, self.config_class):
            raise ConfigError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config

    # --- building -------------------------------------------------------------------------
    @classmethod
    def config_for_data(cls, data, **overrides: Any) -> ModelConfig:
        """The config that fits a dataset (shape, vocabulary, classes), updated by ``overrides``."""
        return cls.config_class.from_dict(overrides)

    @classmethod
    def budget_for_kind(cls, kind: str | None) -> dict[str, Any]:
        """Trainer budget (``steps``, ``batch_size``, ``lr``) with no overrides, for ``kind`` data."""
        return {**GenerativeModel.default_budget, **cls.default_budget,
                **cls.kind_defaults.get(kind or "", {}).get("budget", {})}

    @classmethod
    def config_defaults_for_kind(cls, kind: str | None) -> dict[str, Any]:
        """Config values that replace the dataclass defaults for ``kind`` data (before overrides)."""
        return dict(cls.kind_defaults.get(kind or "", {}).get("config", {}))

    def attach_data(self, data) -> None:
        """Keep what the model needs from its training set to be saved whole (e.g. a tokenizer)."""

    @classmethod
    def supports(cls, data) -> bool:
        """Whether the family can train on ``data`` (the leaderboard asks before building a cell)."""
        return data.kind in cls.data_kinds

    @classmethod
    def benchmark_budget(cls, data, quick: bool = False) -> dict[str, Any]:
        """Trainer budget (+ optional ``"overrides"`` of the config) for one leaderboard cell.

        ``quick`` is the seconds-per-model budget used by tests and CI. Families override this to
        give each data kind its own budget; the default scales ``default_budget`` down.
        """
        budget = dict(cls.default_budget)
        budget["steps"] = max(10, budget["steps"] // 40) if quick else budget["steps"]
        return budget

    @classmethod
    def contract_fixture(cls) -> tuple[ModelConfig, Any]:
        """A tiny config and a small batch (Tensor or ``(x, y)``) for the shared contract suite."""
        raise NotImplementedError(f"{cls.__name__} must define contract_fixture() for tests/contract")

    # --- the contract -------------------------------------------------------------------
    def loss(self, batch) -> dict[str, Tensor]:
        """``{"loss": scalar, ...extras}`` for one batch."""
        raise NotImplementedError

    def sample(self, n: int, *, generator: torch.Generator | None = None, **kw: Any) -> Tensor:
        raise NotImplementedError

    def log_prob(self, x: Tensor) -> Tensor:
        """Per-example log-density (nats); see ``log_prob_kind`` for whether it is exact."""
        raise NotSupported(f"{type(self).__name__} has no likelihood; evaluate it with sample-based metrics (fid, kid, prdc, mmd)")

    def configure_optimizers(self, lr: float, weight_decay: float = 0.0, betas=(0.9, 0.999)) -> list[torch.optim.Optimizer]:
        """Optimizers the Trainer checkpoints and schedules; one AdamW over the trainable parameters by
        default (frozen ones, e.g. a base under ``genzoo.finetune`` adapters, get no optimizer state)."""
        params = [p for p in self.parameters() if p.requires_grad]
        return [torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=betas)]

    def training_step(self, batch, step: int, *, optimizers: list[torch.optim.Optimizer]) -> dict[str, float]:
        """One optimisation step for ``manual_optimization`` families; returns logged scalars."""
        raise NotImplementedError

    #: config fields that training itself sets (e.g. a latent scaling factor estimated from the batches):
    #: left out of the resume check's settings and checkpointed as extra state, so resume restores them
    fitted_config: tuple[str, ...] = ()

    def extra_state_tensors(self) -> dict[str, Tensor]:
        """Non-parameter training state to checkpoint (e.g. an EBM replay buffer); ``fitted_config``
        fields as one-element tensors (NaN for None)."""
        return {f"config.{k}": torch.tensor([float("nan") if getattr(self.config, k) is None else getattr(self.config, k)],
                                            dtype=torch.float64) for k in self.fitted_config}

    def load_extra_state_tensors(self, tensors: dict[str, Tensor]) -> None:
        for k in self.fitted_config:
            if f"config.{k}" in tensors:
                value = float(tensors[f"config.{k}"][0])
                setattr(self.config, k, None if value != value else value)

    # --- persistence ----------------------------------------------------------------------
    def save_extra(self, path) -> None:
        """Write files beside ``config.json`` (tokenizer.json, generation_config.json ...)."""

    def load_extra(self, path) -> None:
        """Read what ``save_extra`` wrote."""

    def save_pretrained(self, path, **kw: Any) -> None:
        from .serialization import save_model

        save_model(self, path, **kw)

    @classmethod
    def from_pretrained(cls, path, **kw: Any) -> "GenerativeModel":
        from .serialization import load_model

        return load_model(path, expected=cls if cls is not GenerativeModel else None, **kw)

    def extra_repr(self) -> str:
        return f"model_type={self.model_type!r}"
