"""KGW text watermark: "A Watermark for Large Language Models" (Kirchenbauer et al., ICML 2023) and
"On the Reliability of Watermarks for LLMs" (Kirchenbauer et al. 2023, the selfhash scheme).

Generation: at step t a seed s_t is hashed from the secret key and the previous token(s); s_t seeds a
pseudo-random permutation of the vocabulary V whose first ⌊γ|V|⌋ ids are the *green list* G_t. The
bias δ is added to the green logits,  l'_v = l_v + δ·[v ∈ G_t],  so sampling prefers green tokens.

Detection needs only the key: count the green tokens |s|_G among T scored tokens and test
H0 "the text was written without the watermark" (each token is green with probability γ):

    z = (|s|_G − γT) / sqrt(T γ (1 − γ)),        p = 1 − Φ(z).

With ``ignore_repeated_ngrams`` each distinct (context, token) n-gram counts once (T = number of
distinct n-grams), so repeated phrases do not inflate z.

Seeding reproduces transformers' ``WatermarkLogitsProcessor`` exactly (so texts cross between the two
libraries with the same z):
- ``lefthash``: s = key · x_{t−1} (only the last token of the context, whatever ``context_width``);
- ``selfhash``: with a fixed table π = randperm(1 000 003) drawn from the key, the context c = the last
  ``context_width`` tokens *including the candidate token itself*, s = min_i key·(π[c_i]+1)·(π[c_last]+1)
  computed in wrapping int64 arithmetic; at generation the 40 most likely candidates are each tested
  against their own green list and those found green get δ;
- the permutation is ``torch.randperm(|V|)`` on a CPU ``torch.Generator`` seeded with s mod (2^64 − 1).
"""
from __future__ import annotations

import collections
import dataclasses
from functools import lru_cache
from typing import Any

import torch
from torch import Tensor

from ..errors import ConfigError, DataError

TABLE_SIZE = 1_000_003  # transformers' fixed hash-table size (a prime)
SELFHASH_CANDIDATES = 40  # candidates tested per step by selfhash (transformers / the original repo)
SCHEMES = ("lefthash", "selfhash")


@dataclasses.dataclass
class WatermarkConfig:
    """Watermark settings; ``key`` is the secret (transformers' ``hashing_key``), ``gamma`` the green
    fraction γ (``greenlist_ratio``), ``delta`` the bias δ (``bias``), ``seeding`` the scheme,
    ``context_width`` the number of previous tokens hashed, ``z_threshold`` the detection cut."""

    key: int = 15485863
    gamma: float = 0.25
    delta: float = 2.0
    seeding: str = "lefthash"
    context_width: int = 1
    z_threshold: float = 4.0

    def __post_init__(self) -> None:
        if isinstance(self.key, bool) or not isinstance(self.key, int) or not 0 <= self.key < 2**63:
            raise ConfigError(f"watermark key must be an integer in [0, 2^63), got {self.key!r}")
        if not 0.0 < float(self.gamma) < 1.0:
            raise ConfigError(f"watermark gamma (green-list fraction) must be in (0, 1), got {self.gamma}")
        if self.seeding not in SCHEMES:
            raise ConfigError(f"watermark seeding must be one of {', '.join(SCHEMES)}, got {self.seeding!r}")
        if not isinstance(self.context_width, int) or self.context_width < 1:
            raise ConfigError(f"watermark context_width must be an integer >= 1, got {self.context_width!r}")

    def to_transformers(self) -> dict[str, Any]:
        """The equivalent ``transformers.WatermarkingConfig(**...)`` arguments."""
        return dict(greenlist_ratio=self.gamma, bias=self.delta, hashing_key=self.key,
                    seeding_scheme=self.seeding, context_width=self.context_width)

    @classmethod
    def from_transformers(cls, config: Any, z_threshold: float = 4.0) -> "WatermarkConfig":
        """From a ``transformers.WatermarkingConfig`` or its dict."""
        d = config if isinstance(config, dict) else config.to_dict()
        return cls(key=d["hashing_key"], gamma=d["greenlist_ratio"], delta=d["bias"], seeding=d["seeding_scheme"],
                   context_width=d["context_width"], z_threshold=z_threshold)


@lru_cache(maxsize=8)
def _hash_table(key: int) -> Tensor:
    return torch.randperm(TABLE_SIZE, generator=torch.Generator().manual_seed(key))


def _seed(config: WatermarkConfig, context: list[int]) -> int:
    """s_t from the last ``context_width`` ids of ``context`` (see the module docstring)."""
    ctx = context[-config.context_width:]
    if config.seeding == "lefthash":
        return (config.key * ctx[-1]) % (2**64 - 1)
    table = _hash_table(config.key)
    pi = table[torch.tensor(ctx, dtype=torch.long) % TABLE_SIZE] + 1
    s = (pi * (pi[-1] * config.key)).min().item()  # int64 products wrap, as in transformers
    return s % (2**64 - 1)


@lru_cache(maxsize=65536)
def _green_mask(seed: int, vocab_size: int, size: int) -> Tensor:
    perm = torch.randperm(vocab_size, generator=torch.Generator().manual_seed(seed))
    mask = torch.zeros(vocab_size, dtype=torch.bool)
    mask[perm[:size]] = True
    return mask


def green_mask(config: WatermarkConfig, vocab_size: int, context: list[int]) -> Tensor:
    """(vocab_size,) bool: the green list G_t seeded by ``context`` (for selfhash: ending with the candidate)."""
    return _green_mask(_seed(config, [int(t) for t in context]), vocab_size, int(vocab_size * config.gamma))


def green_list(config: WatermarkConfig, vocab_size: int, context: list[int]) -> Tensor:
    """The green token ids (sorted) for ``context``."""
    return green_mask(config, vocab_size, context).nonzero().squeeze(1)


class WatermarkLogitsProcessor:
    """``(input_ids (B, t), logits (B, V)) -> logits`` with δ added to the green tokens (a genzoo / transformers
    logits processor; pass ``logits_processor=[WatermarkLogitsProcessor(cfg, V)]`` to ``generate``).

    Rows shorter than ``context_width`` are left unchanged (transformers does the same)."""

    def __init__(self, config: WatermarkConfig, vocab_size: int):
        self.config, self.vocab_size = config, int(vocab_size)

    def bias_mask(self, context: list[int], logits: Tensor) -> Tensor:
        """(V,) bool: the tokens that get δ after ``context``."""
        cfg = self.config
        if cfg.seeding == "lefthash":
            return green_mask(cfg, self.vocab_size, context)
        mask = torch.zeros(self.vocab_size, dtype=torch.bool)
        for cand in logits[: self.vocab_size].argsort(descending=True)[:SELFHASH_CANDIDATES].tolist():
            mask[cand] = green_mask(cfg, self.vocab_size, context + [cand])[cand]
        return mask

    def __call__(self, input_ids: Tensor, logits: Tensor) -> Tensor:
        if input_ids.shape[-1] < self.config.context_width:
            return logits
        out = logits.clone()
        for b, row in enumerate(input_ids.tolist()):
            mask = self.bias_mask(row, logits[b].cpu())
            out[b, : self.vocab_size] += self.config.delta * mask.to(out.device, out.dtype)
        return out


def _as_ids(text_or_ids: Any, tokenizer: Any) -> list[int]:
    if isinstance(text_or_ids, str):
        if tokenizer is None:
            raise ConfigError("detecting a watermark in a string needs the model's tokenizer")
        if not text_or_ids.strip():
            raise DataError("the text is empty; there is nothing to score")
        return list(tokenizer.encode(text_or_ids))
    ids = text_or_ids.tolist() if isinstance(text_or_ids, Tensor) else list(text_or_ids)
    if ids and isinstance(ids[0], list):
        if len(ids) != 1:
            raise DataError(f"detect scores one text at a time; got a batch of {len(ids)}")
        ids = ids[0]
    return [int(t) for t in ids]


def detect(text_or_ids: Any, config: WatermarkConfig, vocab_size: int, *, tokenizer: Any = None,
           ignore_repeated_ngrams: bool = True, bos_token_id: int | None = None) -> dict[str, Any]:
    """Score one text (token ids, or a string with ``tokenizer``) for the watermark of ``config``.

    Returns ``{"z", "p_value", "green", "scored", "watermarked"}``: z and p as in the module docstring,
    ``green`` = |s|_G, ``scored`` = T, ``watermarked`` = z ≥ ``config.z_threshold``. A leading
    ``bos_token_id`` is dropped (as transformers' detector does). Same numbers as
    ``transformers.WatermarkDetector(..., ignore_repeated_ngrams=...)`` on the same ids and settings.
    """
    from scipy.stats import norm

    ids = _as_ids(text_or_ids, tokenizer)
    if bos_token_id is not None and ids and ids[0] == bos_token_id:
        ids = ids[1:]
    w = config.context_width
    if len(ids) <= w:
        raise DataError(f"the text has {len(ids)} tokens; at least {w + 1} are needed to score one after "
                        f"the {w}-token context")
    if min(ids) < 0 or max(ids) >= vocab_size:
        raise DataError(f"token ids must be in [0, {vocab_size}); was the text encoded with another tokenizer?")
    selfhash = config.seeding == "selfhash"
    n = w + 1 - int(selfhash)  # n-gram = context + scored token (selfhash: the token is in its own context)
    counts = collections.Counter(tuple(ids[i:i + n]) for i in range(len(ids) - n + 1))
    is_green = {g: bool(green_mask(config, vocab_size, list(g if selfhash else g[:-1]))[g[-1]]) for g in counts}
    if ignore_repeated_ngrams:
        scored, green = len(counts), sum(is_green.values())
    else:
        scored, green = sum(counts.values()), sum(c for g, c in counts.items() if is_green[g])
    gamma = config.gamma
    z = (green - gamma * scored) / (scored * gamma * (1 - gamma)) ** 0.5
    return {"z": float(z), "p_value": float(norm.sf(z)), "green": int(green), "scored": int(scored),
            "watermarked": bool(z >= config.z_threshold)}
