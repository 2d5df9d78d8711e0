"""Prompt tuning (Lester et al., 2021, "The Power of Scale for Parameter-Efficient Prompt Tuning").

n trainable "virtual token" embeddings P ∈ R^{n × d} go before every sequence; the whole model is
frozen. For a GPT with learned positions (as PEFT does with transformers' GPT-2):

    h = Transformer([P; E x] + pos(0 .. n+T-1)),      logits of the T real positions only,

so p(x) = Π_t p(x_t | P, x_<t). ``prompt_tuning_init="RANDOM"`` draws P from N(0, 1) (PEFT's
``nn.Embedding`` default); ``"VOCAB"`` copies n random rows of the token embedding (the paper's
sampled-vocabulary init). PEFT's file holds one tensor, ``prompt_embeddings`` (n, d). GPT only.
The wrapper sits on ``transformer.wte``: its ``virtual_tokens(batch)`` is what ``GPT.forward`` puts
first (at the first call of a generation only; the KV cache holds them afterwards).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .base import AdapterConfig, AdapterLayer


@dataclass
class PromptTuningConfig(AdapterConfig):
    num_virtual_tokens: int = 8
    prompt_tuning_init: str = "RANDOM"  # "RANDOM" (PEFT's default) or "VOCAB"
    target_modules: Any = "transformer.wte"  # where the wrapper sits (not a PEFT field)
    peft_type: ClassVar[str] = "PROMPT_TUNING"

    def __post_init__(self):
        n = self.num_virtual_tokens
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ConfigError(f"num_virtual_tokens must be a positive integer, got {n!r}")
        if self.prompt_tuning_init not in ("RANDOM", "VOCAB"):
            raise ConfigError(f"prompt_tuning_init must be RANDOM or VOCAB, got {self.prompt_tuning_init!r}")
        self.target_modules = "transformer.wte"

    def wrappers(self) -> dict[type, type[AdapterLayer]]:
        return {nn.Embedding: PromptEmbedding}


class PromptEmbedding(AdapterLayer):
    """The token embedding, unchanged, plus per-adapter virtual tokens for ``GPT.forward`` to prepend."""

    adapter_params = ("prompt_embeddings",)

    def add(self, name: str, config: PromptTuningConfig, generator: torch.Generator | None = None) -> None:
        emb = self.base_layer
        n, d = config.num_virtual_tokens, emb.embedding_dim
        if config.prompt_tuning_init == "VOCAB":
            rows = torch.randint(0, emb.num_embeddings, (n,), generator=generator)
            value = emb.weight.detach()[rows.to(emb.weight.device)].clone()
        else:
            value = torch.randn(n, d, generator=generator).to(emb.weight.device)
        self.prompt_embeddings[name] = nn.Parameter(value)

    def adapter_forward(self, x: Tensor, name: str) -> Tensor:
        return self.base_layer(x)

    def virtual_tokens(self, batch: int) -> Tensor | None:
        if self.disabled or self.active is None:
            return None
        p = self.prompt_embeddings[self.active]
        return p.unsqueeze(0).expand(batch, -1, -1)

    def merged_tensors(self, name: str) -> dict[str, Tensor]:
        raise ConfigError("prompt tuning adds virtual tokens; there is no weight to merge them into")
