"""Autoregressive decoding strategies: logits processors and the next-token choice.

Each processor is a frozen dataclass ``proc(input_ids, logits) -> logits`` (no hidden state), applied
in the order transformers uses: repetition penalty, then temperature, top-k, top-p.

- repetition penalty θ (Keskar et al., 2019, CTRL): for every token already in the sequence,
  ℓ ← ℓ / θ if ℓ > 0 else ℓ · θ.
- temperature T: ℓ ← ℓ / T, i.e. p ∝ p₀^(1/T).
- top-k (Fan et al., 2018): keep the k largest logits, set the rest to -∞.
- top-p / nucleus (Holtzman et al., 2020): keep the smallest set of most likely tokens whose total
  probability reaches p.
Greedy decoding takes argmax ℓ; sampling draws from softmax(ℓ) with an explicit ``generator``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import ConfigError


@dataclass(frozen=True)
class RepetitionPenalty:
    penalty: float

    def __post_init__(self):
        if not self.penalty > 0:
            raise ConfigError(f"repetition_penalty must be > 0 (1.0 = off), got {self.penalty}")

    def __call__(self, input_ids: Tensor, logits: Tensor) -> Tensor:
        seen = torch.gather(logits, 1, input_ids)
        seen = torch.where(seen > 0, seen / self.penalty, seen * self.penalty)
        return logits.scatter(1, input_ids, seen)


@dataclass(frozen=True)
class Temperature:
    temperature: float

    def __post_init__(self):
        if not self.temperature > 0:
            raise ConfigError(f"temperature must be > 0 (use do_sample=False for greedy decoding), got {self.temperature}")

    def __call__(self, input_ids: Tensor, logits: Tensor) -> Tensor:
        return logits / self.temperature


@dataclass(frozen=True)
class TopK:
    k: int

    def __post_init__(self):
        if not (isinstance(self.k, int) and self.k > 0):
            raise ConfigError(f"top_k must be a positive integer (None = off), got {self.k!r}")

    def __call__(self, input_ids: Tensor, logits: Tensor) -> Tensor:
        k = min(self.k, logits.shape[-1])
        kth = torch.topk(logits, k, dim=-1).values[..., -1:]
        return logits.masked_fill(logits < kth, float("-inf"))


@dataclass(frozen=True)
class TopP:
    p: float
    min_tokens_to_keep: int = 1

    def __post_init__(self):
        if not 0 < self.p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.p}")

    def __call__(self, input_ids: Tensor, logits: Tensor) -> Tensor:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=False)
        cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        remove = cum <= 1 - self.p  # the low-probability tail whose mass is at most 1 - p
        remove[..., -self.min_tokens_to_keep:] = False
        return logits.masked_fill(remove.scatter(1, order, remove), float("-inf"))


@dataclass(frozen=True)
class MinLength:
    """EOS gets -∞ while the sequence, counted from position ``start``, is shorter than ``min_length``
    (transformers' ``MinLengthLogitsProcessor``, start 0, and ``MinNewTokensLengthLogitsProcessor``)."""

    min_length: int
    eos_ids: tuple[int, ...]
    start: int = 0

    def __call__(self, input_ids: Tensor, logits: Tensor) -> Tensor:
        if input_ids.shape[1] - self.start >= self.min_length or not self.eos_ids:
            return logits
        logits = logits.clone()
        logits[:, list(self.eos_ids)] = float("-inf")
        return logits


def build_processors(*, do_sample: bool, temperature: float = 1.0, top_k: int | None = None,
                     top_p: float = 1.0, repetition_penalty: float = 1.0, min_length: int = 0,
                     min_new_tokens: int | None = None, eos_ids=(), prompt_length: int = 0) -> list:
    """The processors a generation config asks for (validated even when they are no-ops), in
    transformers' order: repetition penalty, minimum lengths, then (sampling) temperature, top-k, top-p."""
    procs: list = []
    if repetition_penalty != 1.0:
        procs.append(RepetitionPenalty(repetition_penalty))
    if min_length and eos_ids:
        procs.append(MinLength(int(min_length), tuple(eos_ids)))
    if min_new_tokens and eos_ids:
        procs.append(MinLength(int(min_new_tokens), tuple(eos_ids), prompt_length))
    if temperature is not None and temperature <= 0:
        Temperature(temperature)  # raises the one-line error
    if top_p is not None and not 0 < top_p <= 1:
        TopP(top_p)
    if top_k is not None and top_k != 0:
        TopK(top_k)
    if not do_sample:
        return procs  # greedy: temperature / top-k / top-p do not change the argmax
    if temperature is not None and temperature != 1.0:
        procs.append(Temperature(temperature))
    if top_k:
        procs.append(TopK(top_k))
    if top_p is not None and top_p < 1.0:
        procs.append(TopP(top_p))
    return procs


def process(procs: list, input_ids: Tensor, logits: Tensor) -> Tensor:
    for proc in procs:
        logits = proc(input_ids, logits)
    return logits


def next_token(logits: Tensor, *, do_sample: bool, generator: torch.Generator | None = None) -> Tensor:
    """(B, V) processed logits -> (B,) token ids: argmax, or a draw from softmax(logits)."""
    if not do_sample:  # max(dim) returns argmax's index (the first maximal value) in ~60% of its time on CPU
        return logits.max(dim=-1).indices
    probs = logits.float().softmax(dim=-1)
    if generator is not None and generator.device != probs.device:
        return torch.multinomial(probs.to(generator.device), 1, generator=generator).squeeze(1).to(probs.device)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)
