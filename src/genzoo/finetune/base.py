"""What every adapter method shares: a frozen base layer wrapped by a module that holds named
adapters, PEFT-style module matching, injection, merge / unmerge, ``set_adapter`` and
``disable_adapters``.

An adapted layer computes ``y = base(x) + Δ(x)`` (LoRA, DoRA, bottleneck adapters) or a rescaled
``base`` (IA³); the base layer's tensors are never changed except by ``merge``, which writes
``W ← W + ΔW`` and keeps the original tensor so that ``unmerge`` restores it bit for bit (adding
and subtracting ΔW in floating point would not). Several adapters may live on one layer under
different names; one is active at a time (``set_adapter``); inside ``disable_adapters(model)``
every adapted layer returns its base output, so the model *is* the base model without a second
copy (the reference model of preference training).

``target_modules`` follow PEFT (``peft.tuners.tuners_utils.check_target_module_exists``): a string
is a regular expression that must match a module's full name (``re.fullmatch``); a list matches a
module whose full name equals an entry or ends with ``"." + entry``; ``"all-linear"`` is every
``nn.Linear`` except the output head.
"""
from __future__ import annotations

import contextlib
import dataclasses
import re
from typing import Any, Iterator

import torch
from torch import Tensor, nn

from ..errors import ConfigError


class AdapterConfig:
    """What every method's config dataclass shares: its field names and its JSON dict."""

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class AdapterLayer(nn.Module):
    """A frozen ``base_layer`` plus named adapters (parameters in ``ParameterDict``s keyed by name)."""

    #: names of the ``ParameterDict`` attributes that hold one entry per adapter
    adapter_params: tuple[str, ...] = ()

    def __init__(self, base_layer: nn.Module):
        super().__init__()
        self.base_layer = base_layer
        for p in base_layer.parameters():
            p.requires_grad_(False)
        for name in self.adapter_params:
            setattr(self, name, nn.ParameterDict())
        self.module_name = ""  # the full name in the model (set by ``inject``)
        self.active: str | None = None
        self.disabled = False
        self.merged: list[str] = []
        self._original: dict[str, Tensor] = {}  # base tensors before the first merge (exact unmerge)

    @property
    def weight(self) -> Tensor:
        """The base layer's weight (as PEFT's layers expose it): for dtype/device queries; outputs
        must come from ``forward``, which adds the adapter."""
        return self.base_layer.weight

    @property
    def bias(self) -> Tensor | None:
        return getattr(self.base_layer, "bias", None)

    # --- what a method defines --------------------------------------------------------------
    def add(self, name: str, config, generator: torch.Generator | None = None) -> None:
        raise NotImplementedError

    def adapter_forward(self, x: Tensor, name: str) -> Tensor:
        """The adapted output of the active adapter ``name`` (base included)."""
        raise NotImplementedError

    def merged_tensors(self, name: str) -> dict[str, Tensor]:
        """New values of the base layer's tensors (``"weight"``, maybe ``"bias"``) with ``name`` merged."""
        raise NotImplementedError

    # --- common ------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return list(getattr(self, self.adapter_params[0]).keys()) if self.adapter_params else []

    def forward(self, x: Tensor, *args, **kw) -> Tensor:
        if self.disabled:
            if self.merged:
                raise ConfigError("adapters are merged into this model; unmerge() before disable_adapters()")
            return self.base_layer(x, *args, **kw)
        if self.active is None or self.merged:
            return self.base_layer(x, *args, **kw)
        return self.adapter_forward(x, self.active, *args, **kw)

    def set_active(self, name: str | None) -> None:
        self.active = name if name in self.names() else None
        for pname in self.adapter_params:
            for key, p in getattr(self, pname).items():
                p.requires_grad_(key == self.active)

    @torch.no_grad()
    def merge(self, name: str) -> None:
        if name in self.merged:
            raise ConfigError(f"adapter {name!r} is already merged; merging it twice would add its ΔW twice (unmerge() first)")
        if name not in self.names():
            raise ConfigError(f"this layer has no adapter {name!r}")
        new = self.merged_tensors(name)
        for key, value in new.items():
            current = getattr(self.base_layer, key)
            if key not in self._original:
                self._original[key] = current.detach().clone()
            current.copy_(value.to(current.dtype))
        self.merged.append(name)

    @torch.no_grad()
    def unmerge(self) -> None:
        for key, value in self._original.items():
            getattr(self.base_layer, key).copy_(value)
        self._original.clear()
        self.merged.clear()

    def extra_repr(self) -> str:
        return f"adapters={self.names()}, active={self.active!r}, merged={self.merged}"


# --- module matching ---------------------------------------------------------------------------
def matches(name: str, target_modules) -> bool:
    """PEFT's rule: a string is a full-match regex, a list matches exact names or ``.suffix``es."""
    if isinstance(target_modules, str):
        return re.fullmatch(target_modules, name) is not None
    return any(name == t or name.endswith("." + t) for t in target_modules)


def parse_targets(value) -> str | list[str]:
    """``"c_attn,c_proj"`` (CLI) -> list; a single string with regex characters stays a regex."""
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"target_modules must be module names or a regex, got {value!r}")
    if value == "all-linear" or any(c in value for c in "*+?[]()|^$\\"):
        return value
    return [v.strip() for v in value.split(",") if v.strip()]


def _short_list(names: list[str], limit: int = 12) -> str:
    names = sorted(set(names))
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def find_targets(model: nn.Module, target_modules, kinds: tuple[type, ...], what: str) -> list[str]:
    """Full names of the modules of ``kinds`` that ``target_modules`` selects; a one-line error when
    nothing is selected (listing the module names that exist) or a selected module has another type."""
    if target_modules is None:
        raise ConfigError(f"{what} needs target_modules (e.g. --set target_modules=c_attn,c_proj)")
    head = _output_head(model)
    found, wrong = [], []
    for name, module in model.named_modules():
        if not name or _inside_adapter(model, name):
            continue
        if target_modules == "all-linear":
            if type(module) is nn.Linear and name != head:
                found.append(name)
            continue
        if matches(name, target_modules):
            (found if isinstance(module, kinds) else wrong).append(name)
    if wrong and not found:
        types = {type(dict(model.named_modules())[n]).__name__ for n in wrong}
        raise ConfigError(f"target_modules {target_modules!r} select {wrong[0]!r} ({', '.join(sorted(types))}); {what} wraps "
                          f"{', '.join(k.__name__ for k in kinds)} modules only")
    if not found:
        plain = tuple(k for k in kinds if not issubclass(k, AdapterLayer))
        leaves = [n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                  if n and isinstance(m, kinds) and not _inside_adapter(model, n)]
        raise ConfigError(f"target_modules {target_modules!r} match no module of this {type(model).__name__}; "
                          f"its {'/'.join(k.__name__ for k in plain)} modules are named: {_short_list(leaves)}")
    return found


def _output_head(model: nn.Module) -> str | None:
    for name in ("lm_head", "head", "out"):
        if isinstance(getattr(model, name, None), nn.Linear):
            return name
    return None


def _inside_adapter(model: nn.Module, name: str) -> bool:
    parts = name.split(".")
    return any(isinstance(model.get_submodule(".".join(parts[:i])), AdapterLayer) for i in range(1, len(parts)))


def replace_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


# --- model-level operations --------------------------------------------------------------------
def adapter_layers(model: nn.Module) -> Iterator[tuple[str, AdapterLayer]]:
    for name, module in model.named_modules():
        if isinstance(module, AdapterLayer):
            yield name, module


def inject(model: nn.Module, config, name: str, wrappers: dict[type, type[AdapterLayer]],
           what: str, generator: torch.Generator | None = None) -> list[str]:
    """Wrap the targeted modules (or reuse existing wrappers of the same method) and add adapter ``name``.

    Freezes every parameter of ``model`` except the new adapter's; returns the adapted module names."""
    if name in getattr(model, "peft_config", {}):
        raise ConfigError(f"the model already has an adapter named {name!r}; pick another adapter_name")
    own = tuple(set(wrappers.values()))  # layers this method wrapped before: another adapter is added to them
    targets = find_targets(model, config.target_modules, tuple(wrappers) + own, what)
    for p in model.parameters():
        p.requires_grad_(False)
    for target in targets:
        module = model.get_submodule(target)
        if not isinstance(module, own):
            wrapper = next(w for k, w in wrappers.items() if isinstance(module, k))
            module = wrapper(module)
            module.module_name = target
            replace_module(model, target, module)
        module.add(name, config, generator)
    if not hasattr(model, "peft_config"):
        model.peft_config = {}
    model.peft_config[name] = config
    set_adapter(model, name)
    return targets


def set_adapter(model: nn.Module, name: str) -> None:
    """Make adapter ``name`` the active (and only trainable) one."""
    names = list(getattr(model, "peft_config", {}))
    if name not in names:
        raise ConfigError(f"no adapter named {name!r}; this model has: {', '.join(names) or 'none'}")
    for _, layer in adapter_layers(model):
        layer.set_active(name)
    model.active_adapter = name


@contextlib.contextmanager
def disable_adapters(model: nn.Module):
    """Inside the block the model computes its base function (no copy is made)."""
    layers = [layer for _, layer in adapter_layers(model)]
    before = [layer.disabled for layer in layers]
    for layer in layers:
        layer.disabled = True
    try:
        yield model
    finally:
        for layer, was in zip(layers, before):
            layer.disabled = was


def merge(model: nn.Module, name: str | None = None) -> None:
    """``W ← W + ΔW`` of adapter ``name`` (default: the active one) in every adapted layer."""
    name = name or getattr(model, "active_adapter", None)
    layers = [layer for _, layer in adapter_layers(model) if name in layer.names()]
    if not layers:
        raise ConfigError(f"no adapter named {name!r} to merge")
    if any(name in layer.merged for layer in layers):
        raise ConfigError(f"adapter {name!r} is already merged; merging it twice would add its ΔW twice (unmerge() first)")
    _check_untied(model, layers)
    for layer in layers:
        layer.merge(name)


def _check_untied(model: nn.Module, layers: list[AdapterLayer]) -> None:
    """Merging into a weight that another module shares (GPT's tied embedding and LM head) would
    change that module too: refuse with a one-line error."""
    inside = {id(p) for layer in layers for p in layer.base_layer.parameters()}
    for mod_name, module in model.named_modules():
        if isinstance(module, AdapterLayer) or _inside_adapter(model, mod_name):
            continue
        for pname, p in module.named_parameters(recurse=False):
            if id(p) in inside:
                raise ConfigError(f"the adapted weight is tied to {mod_name}.{pname}; merging would change both — "
                                  "keep this adapter unmerged (or train it without the tied layer)")


def unmerge(model: nn.Module) -> None:
    """Restore every adapted layer's base tensors exactly as they were before ``merge``."""
    for _, layer in adapter_layers(model):
        layer.unmerge()


def merge_and_unload(model: nn.Module, name: str | None = None) -> nn.Module:
    """Merge adapter ``name`` and put the plain base layers back: a standalone model."""
    merge(model, name)
    for target, layer in list(adapter_layers(model)):
        replace_module(model, target, layer.base_layer)
    for p in model.parameters():
        p.requires_grad_(True)
    for attr in ("peft_config", "active_adapter"):
        if hasattr(model, attr):
            delattr(model, attr)
    return model


def is_adapted(model: nn.Module) -> bool:
    return bool(getattr(model, "peft_config", None))


def trainable_parameters(model: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts (tied tensors once)."""
    seen, trainable, total = set(), 0, 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return trainable, total
