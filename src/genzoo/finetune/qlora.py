"""LoRA on an int8-quantised base: QLoRA's idea (Dettmers et al., 2023) with genzoo's CPU int8 layers.

The base weight stays frozen as per-row int8, W ≈ diag(s) Q (``genzoo.nn.quantized.Int8Linear``);
the adapter is fp32 and trainable:

    h = diag(s) Q x + b + (α / r) · B A x.

When a gradient must flow back through a frozen int8 layer (adapted or not), ``Int8Linear`` runs its
dequantised product (differentiable in x); otherwise its chosen fast kernel. Merging de-quantises, adds and
re-quantises:  Q', s' = quantize_rows(diag(s) Q + (α / r) B A)  (``merge``); ``unmerge`` restores
the original int8 tensors and scales exactly.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import ConfigError
from ..nn.quantized import Int8Linear, fbgemm_pack, quantize_rows
from .lora import LoRALinear


class LoRAInt8Linear(LoRALinear):
    """LoRA around a frozen ``Int8Linear``."""

    def __init__(self, base_layer: Int8Linear):
        super().__init__(base_layer)

    def _register(self, name, config, a, b) -> None:
        super()._register(name, config, a.to(self.base_layer.scale.device), b.to(self.base_layer.scale.device))

    def adapter_forward(self, x: Tensor, name: str) -> Tensor:
        out = self.base_layer(x)  # dequantised (differentiable) product when x needs a gradient
        return out.add_(self.lora_out(x, name).to(out.dtype), alpha=self.scaling[name])

    def dequantized(self) -> Tensor:
        return self.base_layer.weight.float() * self.base_layer.scale[:, None]

    def merged_tensors(self, name: str) -> dict[str, Tensor]:
        q, scale = quantize_rows(self.dequantized() + self.delta_weight(name).float())
        return {"weight": q, "scale": scale, "scale_bf16": scale.to(torch.bfloat16)}

    @torch.no_grad()
    def merge(self, name: str) -> None:
        if self.base_layer.weight.dtype is not torch.int8:
            raise ConfigError("this Int8Linear no longer holds int8 weights; cannot merge into it")
        super().merge(name)
        self._repack()

    @torch.no_grad()
    def unmerge(self) -> None:
        super().unmerge()
        self._repack()

    def _repack(self) -> None:
        base = self.base_layer
        if base.packed is not None:
            k = base.DIGIT_SCALE
            base.packed = fbgemm_pack(base.weight, base.scale, None if base.bias is None else base.bias * (k / (k + 1)))
