"""LoRA: low-rank adaptation (Hu et al., 2021, "LoRA: Low-Rank Adaptation of Large Language Models").

A frozen weight W (out × in) is adapted by a trainable low-rank update,

    h = W x + b + (α / r) · B A x,      A ∈ R^{r × in},  B ∈ R^{out × r},

with A ~ Kaiming-uniform and B = 0 (``init_lora_weights=True``), so the adapted model starts equal
to the base. rsLoRA (Kalajdzievski, 2023; ``use_rslora``) scales by α / √r instead of α / r.
Dropout (``lora_dropout``) applies to the input of the low-rank path only.

Wrapped layers (the same parameter shapes as PEFT, so files are interchangeable):

- ``nn.Linear`` (and so GPT-2's ``Conv1D`` projections, which genzoo stores as ``nn.Linear``):
  ``lora_A`` (r, in), ``lora_B`` (out, r);
- ``nn.Conv2d`` (the U-Net): ``lora_A`` a conv with the base's kernel, stride and padding to r
  channels (r, in, kh, kw), ``lora_B`` a 1×1 conv (out, r, 1, 1); ΔW = B A as matrices;
- ``nn.Embedding``: ``lora_embedding_A`` (r, num_embeddings), ``lora_embedding_B`` (dim, r);
  Δ = (B A)ᵀ, looked up like the table.

Merging writes W ← W + (α/r) B A (``merge``); ``unmerge`` restores W bit for bit.
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


@dataclass
class LoraConfig(AdapterConfig):
    """PEFT's ``LoraConfig`` fields that genzoo implements (the names are PEFT's)."""

    r: int = 8
    lora_alpha: float = 8.0
    lora_dropout: float = 0.0
    target_modules: Any = None  # names (exact or ".suffix") or one full-match regex, as PEFT
    use_rslora: bool = False
    init_lora_weights: bool = True
    use_dora: bool = False
    peft_type: ClassVar[str] = "LORA"

    def __post_init__(self):
        if isinstance(self.r, bool) or not isinstance(self.r, int) or self.r <= 0:
            raise ConfigError(f"r must be a positive integer (the LoRA rank), got {self.r!r}")
        if not self.lora_alpha > 0:
            raise ConfigError(f"lora_alpha must be positive, got {self.lora_alpha!r}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ConfigError(f"lora_dropout must be in [0, 1), got {self.lora_dropout!r}")
        if self.init_lora_weights not in (True, False):
            raise ConfigError(f"init_lora_weights must be true or false (genzoo has no {self.init_lora_weights!r} init)")

    @property
    def scaling(self) -> float:
        return self.lora_alpha / (math.sqrt(self.r) if self.use_rslora else self.r)

    def wrappers(self) -> dict[type, type[AdapterLayer]]:
        from ..nn.quantized import Int8Linear

        if self.use_dora:
            from .dora import DoRALinear

            return {nn.Linear: DoRALinear}
        from .qlora import LoRAInt8Linear

        return {nn.Linear: LoRALinear, nn.Conv2d: LoRAConv2d, nn.Embedding: LoRAEmbedding, Int8Linear: LoRAInt8Linear}


def _kaiming_(t: Tensor, generator: torch.Generator | None) -> Tensor:
    """nn.Linear's default init (PEFT's LoRA A): Kaiming-uniform with a = √5, i.e. U(±1/√fan_in)."""
    fan_in = t[0].numel()
    bound = 1.0 / math.sqrt(fan_in)
    with torch.no_grad():
        return t.uniform_(-bound, bound, generator=generator)


class LoRALayer(AdapterLayer):
    """Shared bookkeeping: per-adapter scaling and dropout."""

    adapter_params = ("lora_A", "lora_B")

    def __init__(self, base_layer: nn.Module):
        super().__init__(base_layer)
        self.scaling: dict[str, float] = {}
        self.dropout: dict[str, float] = {}
        self.rank: dict[str, int] = {}

    def _register(self, name: str, config: LoraConfig, a: Tensor, b: Tensor) -> None:
        device = next(iter(self.base_layer.parameters())).device if any(True for _ in self.base_layer.parameters()) else None
        getattr(self, self.adapter_params[0])[name] = nn.Parameter(a.to(device))
        getattr(self, self.adapter_params[1])[name] = nn.Parameter(b.to(device))
        self.scaling[name], self.dropout[name], self.rank[name] = config.scaling, config.lora_dropout, config.r

    def _drop(self, x: Tensor, name: str) -> Tensor:
        p = self.dropout[name]
        return F.dropout(x, p, self.training) if p and self.training else x

    def delta_weight(self, name: str) -> Tensor:
        raise NotImplementedError

    def merged_tensors(self, name: str) -> dict[str, Tensor]:
        w = self.base_layer.weight
        return {"weight": w + self.delta_weight(name).to(w.dtype)}


class LoRALinear(LoRALayer):
    """y = W x + b + s · B (A dropout(x)),  s = α / r (or α / √r)."""

    def __init__(self, base_layer: nn.Linear):
        super().__init__(base_layer)
        self.in_features, self.out_features = base_layer.in_features, base_layer.out_features

    def add(self, name: str, config: LoraConfig, generator: torch.Generator | None = None) -> None:
        a = _kaiming_(torch.empty(config.r, self.in_features), generator)
        b = torch.zeros(self.out_features, config.r) if config.init_lora_weights else _kaiming_(torch.empty(self.out_features, config.r), generator)
        self._register(name, config, a, b)

    def lora_out(self, x: Tensor, name: str) -> Tensor:
        return F.linear(F.linear(self._drop(x, name), self.lora_A[name]), self.lora_B[name])

    def adapter_forward(self, x: Tensor, name: str) -> Tensor:
        out = self.base_layer(x)
        # in place: a linear layer's backward does not need its output
        return out.add_(self.lora_out(x.to(self.lora_A[name].dtype), name).to(out.dtype), alpha=self.scaling[name])

    def delta_weight(self, name: str) -> Tensor:
        """ΔW = s · B A  (out × in)."""
        return (self.lora_B[name] @ self.lora_A[name]) * self.scaling[name]


class LoRAConv2d(LoRALayer):
    """y = conv(x; W) + s · conv₁ₓ₁(conv(x; A); B): A has the base's kernel, stride and padding."""

    def __init__(self, base_layer: nn.Conv2d):
        if base_layer.groups != 1 or base_layer.dilation != (1, 1) or base_layer.padding_mode != "zeros":
            raise ConfigError("LoRA wraps Conv2d layers with groups=1, dilation=1 and zero padding only")
        super().__init__(base_layer)

    def add(self, name: str, config: LoraConfig, generator: torch.Generator | None = None) -> None:
        conv = self.base_layer
        a = _kaiming_(torch.empty(config.r, conv.in_channels, *conv.kernel_size), generator)
        b = torch.zeros(conv.out_channels, config.r, 1, 1)
        if not config.init_lora_weights:
            b = _kaiming_(b, generator)
        self._register(name, config, a, b)

    def adapter_forward(self, x: Tensor, name: str) -> Tensor:
        conv = self.base_layer
        out = conv(x)
        h = F.conv2d(self._drop(x, name), self.lora_A[name], None, conv.stride, conv.padding)
        return out.add_(F.conv2d(h, self.lora_B[name]), alpha=self.scaling[name])

    def delta_weight(self, name: str) -> Tensor:
        a, b = self.lora_A[name], self.lora_B[name]
        return (b.flatten(1) @ a.flatten(1)).view(self.base_layer.weight.shape) * self.scaling[name]


class LoRAEmbedding(LoRALayer):
    """E[x] + s · (Aᵀ[x]) Bᵀ; dropout does not apply to a lookup (as in PEFT)."""

    adapter_params = ("lora_embedding_A", "lora_embedding_B")

    def add(self, name: str, config: LoraConfig, generator: torch.Generator | None = None) -> None:
        emb = self.base_layer
        a = torch.zeros(config.r, emb.num_embeddings)
        b = torch.empty(emb.embedding_dim, config.r).normal_(generator=generator)
        if not config.init_lora_weights:
            a.normal_(generator=generator)
        self._register(name, config, a, b)

    def adapter_forward(self, x: Tensor, name: str) -> Tensor:
        emb = self.base_layer
        out = emb(x)
        after_a = F.embedding(x, self.lora_embedding_A[name].t(), emb.padding_idx, emb.max_norm, emb.norm_type,
                              emb.scale_grad_by_freq, emb.sparse)
        return out + (after_a @ self.lora_embedding_B[name].t()) * self.scaling[name]

    def delta_weight(self, name: str) -> Tensor:
        """ΔE = s · (B A)ᵀ  (num_embeddings × dim)."""
        return (self.lora_embedding_B[name] @ self.lora_embedding_A[name]).t() * self.scaling[name]
