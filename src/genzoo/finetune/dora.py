"""DoRA: weight-decomposed low-rank adaptation (Liu et al., 2024, "DoRA: Weight-Decomposed Low-Rank
Adaptation").

The adapted weight is split into a magnitude m (one number per output row) and a direction,

    W' = m · (W + s B A) / ‖W + s B A‖_row,        h = W' x + b,

with m initialised to ‖W‖_row (B = 0 at the start, so h equals the base). As in the paper (§4.3)
and PEFT, the row norm is treated as a constant in the backward pass (detached). The forward pass
is computed as PEFT does, from the base output y = W x + b:

    h = y + (m / ‖·‖ - 1) (y - b) + (m / ‖·‖) s B A x.

Files: ``lora_A``, ``lora_B`` and ``lora_magnitude_vector`` (out,), PEFT's ``use_dora=True`` keys.
DoRA wraps ``nn.Linear`` only.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .lora import LoraConfig, LoRALinear


class DoRALinear(LoRALinear):
    adapter_params = ("lora_A", "lora_B", "lora_magnitude_vector")

    def add(self, name: str, config: LoraConfig, generator: torch.Generator | None = None) -> None:
        super().add(name, config, generator)
        with torch.no_grad():
            norm = self.weight_norm(name)
        self.lora_magnitude_vector[name] = nn.Parameter(norm.clone())

    def weight_norm(self, name: str) -> Tensor:
        """‖W + s B A‖ over each output row (detached: a constant for the gradient, as in the paper)."""
        w = self.base_layer.weight
        return torch.linalg.norm(w + self.delta_weight(name).detach().to(w.dtype), dim=1).detach()

    def adapter_forward(self, x: Tensor, name: str) -> Tensor:
        out = self.base_layer(x)
        scale = self.lora_magnitude_vector[name] / self.weight_norm(name)
        bias = self.base_layer.bias
        plain = out - bias if bias is not None else out
        return out + (scale - 1) * plain + scale * (self.lora_out(x, name) * self.scaling[name])

    def merged_tensors(self, name: str) -> dict[str, Tensor]:
        w = self.base_layer.weight
        direction = w + self.delta_weight(name).to(w.dtype)
        return {"weight": (self.lora_magnitude_vector[name] / self.weight_norm(name))[:, None] * direction}
