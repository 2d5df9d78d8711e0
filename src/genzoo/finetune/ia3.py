"""IA³: infused adapter by inhibiting and amplifying inner activations (Liu et al., 2022, "Few-Shot
Parameter-Efficient Fine-Tuning is Better and Cheaper than In-Context Learning").

A learned vector l rescales a frozen linear layer, initialised to ones (the base at the start):

    attention / key-value layers:   h = l ⊙ (W x + b)          l ∈ R^out  (PEFT stores (out, 1))
    feed-forward layers:            h = W (l ⊙ x) + b          l ∈ R^in   (PEFT stores (1, in))

Which targets are feed-forward is ``feedforward_modules`` (a subset of ``target_modules``), as in
PEFT. Merging: W ← diag(l) W, b ← l ⊙ b (or W ← W diag(l)).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .base import AdapterConfig, AdapterLayer, matches


@dataclass
class IA3Config(AdapterConfig):
    target_modules: Any = None
    feedforward_modules: Any = None
    init_ia3_weights: bool = True
    peft_type: ClassVar[str] = "IA3"

    def __post_init__(self):
        if self.feedforward_modules is None:
            self.feedforward_modules = []

    def wrappers(self) -> dict[type, type[AdapterLayer]]:
        return {nn.Linear: IA3Linear}


class IA3Linear(AdapterLayer):
    adapter_params = ("ia3_l",)

    def __init__(self, base_layer: nn.Linear):
        super().__init__(base_layer)
        self.feedforward: dict[str, bool] = {}
        self.module_name = ""  # set by inject (to decide feed-forward or not)

    def add(self, name: str, config: IA3Config, generator: torch.Generator | None = None) -> None:
        ff = bool(config.feedforward_modules) and matches(self.module_name, config.feedforward_modules)
        lin = self.base_layer
        shape = (1, lin.in_features) if ff else (lin.out_features, 1)
        value = torch.ones(shape) if config.init_ia3_weights else torch.randn(shape, generator=generator)
        self.ia3_l[name] = nn.Parameter(value.to(lin.weight.device))
        self.feedforward[name] = ff

    def adapter_forward(self, x: Tensor, name: str) -> Tensor:
        scale = self.ia3_l[name].flatten()
        if self.feedforward[name]:
            return self.base_layer(x * scale)
        return self.base_layer(x) * scale

    def merged_tensors(self, name: str) -> dict[str, Tensor]:
        lin, l = self.base_layer, self.ia3_l[name]
        out = {"weight": lin.weight * l}  # (out, 1) scales rows, (1, in) columns
        if not self.feedforward[name] and lin.bias is not None:
            out["bias"] = lin.bias * l.flatten()
        return out


def check_feedforward(config: IA3Config) -> None:
    ff, targets = config.feedforward_modules, config.target_modules
    if isinstance(ff, list) and isinstance(targets, list) and not set(ff) <= set(targets):
        raise ConfigError(f"feedforward_modules {ff} must be a subset of target_modules {targets}")
