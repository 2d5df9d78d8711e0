"""Bottleneck adapters (Houlsby et al., 2019, "Parameter-Efficient Transfer Learning for NLP").

A small residual MLP after a frozen sub-layer (an attention or MLP block), on its output h:

    h' = h + W_up σ(W_down h + b_down) + b_up,      W_down ∈ R^{m × d},  W_up ∈ R^{d × m},  m ≪ d,

with W_up = 0 and b_up = 0 at the start (``init_weights``), so the adapted model starts as the base.
Outputs (N, C, H, W) (U-Net blocks) are adapted over channels. Nonlinear, so never merged.

PEFT has no bottleneck type: the files are PEFT's (``adapter_config.json`` + ``adapter_model.safetensors``,
keys ``base_model.model.<module>.adapter_down.weight`` ...) with ``peft_type`` ``"GENZOO_BOTTLENECK"``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from .base import AdapterConfig, AdapterLayer

ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu, "tanh": torch.tanh, "silu": F.silu}


@dataclass
class BottleneckConfig(AdapterConfig):
    target_modules: Any = None  # sub-layers whose output is adapted, e.g. attn,mlp for a GPT
    bottleneck_size: int = 16
    non_linearity: str = "relu"
    init_weights: bool = True
    peft_type: ClassVar[str] = "GENZOO_BOTTLENECK"

    def __post_init__(self):
        if isinstance(self.bottleneck_size, bool) or not isinstance(self.bottleneck_size, int) or self.bottleneck_size <= 0:
            raise ConfigError(f"bottleneck_size must be a positive integer, got {self.bottleneck_size!r}")
        if self.non_linearity not in ACTIVATIONS:
            raise ConfigError(f"non_linearity must be one of {', '.join(ACTIVATIONS)}, got {self.non_linearity!r}")

    def wrappers(self) -> dict[type, type[AdapterLayer]]:
        return {nn.Module: BottleneckAdapter}


def output_features(module: nn.Module) -> int:
    """The width of a sub-layer's output: that of its last linear or conv layer."""
    last = None
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            last = m
    if last is None:
        raise ConfigError(f"cannot tell the output width of {type(module).__name__}: it has no Linear or Conv2d layer")
    return last.out_features if isinstance(last, nn.Linear) else last.out_channels


class BottleneckAdapter(AdapterLayer):
    adapter_params = ("adapter_down", "adapter_up", "adapter_down_bias", "adapter_up_bias")

    def __init__(self, base_layer: nn.Module):
        super().__init__(base_layer)
        self.features = output_features(base_layer)
        self.activation: dict[str, str] = {}

    @property
    def weight(self):
        raise AttributeError("a bottleneck adapter wraps a whole sub-layer; it has no single weight")

    def add(self, name: str, config: BottleneckConfig, generator: torch.Generator | None = None) -> None:
        d, m = self.features, config.bottleneck_size
        bound = 1.0 / math.sqrt(d)
        device = next(self.base_layer.parameters()).device
        down = torch.empty(m, d).uniform_(-bound, bound, generator=generator)
        up = torch.zeros(d, m) if config.init_weights else torch.empty(d, m).uniform_(-1 / math.sqrt(m), 1 / math.sqrt(m), generator=generator)
        for attr, value in (("adapter_down", down), ("adapter_up", up), ("adapter_down_bias", torch.zeros(m)),
                            ("adapter_up_bias", torch.zeros(d))):
            getattr(self, attr)[name] = nn.Parameter(value.to(device))
        self.activation[name] = config.non_linearity

    def adapter_forward(self, x: Tensor, name: str, *args, **kw) -> Tensor:
        h = self.base_layer(x, *args, **kw)
        channels_first = h.dim() == 4
        z = h.movedim(1, -1) if channels_first else h
        a = ACTIVATIONS[self.activation[name]](F.linear(z, self.adapter_down[name], self.adapter_down_bias[name]))
        z = F.linear(a, self.adapter_up[name], self.adapter_up_bias[name])
        return h + (z.movedim(-1, 1) if channels_first else z)

    def merged_tensors(self, name: str) -> dict[str, Tensor]:
        raise ConfigError("bottleneck adapters are nonlinear and cannot be merged into the base; keep base + adapter")
