"""Canary exposure (Carlini et al. 2019, "The Secret Sharer"; docs/privacy.md, "Canary exposure").

A canary is the line ``"my secret number is " + s`` with s a random string of ``digits`` decimal
digits; the candidate space R holds all 10^digits such strings. ``make_canaries((1, 10, 100))``
draws one secret per insertion count k (seeded) plus a *control* canary that is never inserted;
``insert_canaries(text, canaries)`` puts each canary k times at random line starts (seeded).

The log-perplexity of a candidate r is Px(r) = −log2 Pr(r | "\\n") in bits (summed over its tokens),
its rank among R is rank(r) = #{r' ∈ R : Px(r') < Px(r)} + (#{r' : Px(r') = Px(r)} + 1) / 2
(mid-rank for ties), and

    exposure(r) = log2 |R| − log2 rank(r)            (0 … log2 |R|; a random secret: ≈ 1).

- ``exact``: every candidate is scored (in batches); used when |R| ≤ 10^4 (``digits ≤ 4``).
- ``extrapolate`` (Secret Sharer §4.3): fit a skew-normal (``scipy.stats.skewnorm``) to Px of
  ``samples`` candidates drawn uniformly; rank(r)/|R| ≈ F(Px(r)) with F its CDF, so
  exposure ≈ −log2 F(Px(r)), clipped to [0, log2 |R|].
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..errors import ConfigError

PREFIX = "my secret number is "
EXACT_LIMIT = 10_000
CANARIES_JSON = "canaries.json"


def parse_counts(canaries) -> tuple[int, ...]:
    """``canaries=`` as counts: an int, ``"1,10,100"`` or a sequence; each k ≥ 1, no repeats."""
    raw = str(canaries).split(",") if isinstance(canaries, (int, str)) else list(canaries)
    try:
        counts = tuple(int(str(k).strip()) for k in raw)
    except ValueError:
        raise ConfigError(f"canaries={canaries!r}: give insertion counts like canaries=1,10,100") from None
    if not counts or min(counts) <= 0:
        raise ConfigError(f"canaries={canaries!r}: every insertion count must be a positive integer")
    if len(set(counts)) != len(counts):
        raise ConfigError(f"canaries={canaries!r} repeats a count; give each count once")
    return counts


def _check_digits(digits) -> int:
    if not isinstance(digits, int) or not 1 <= digits <= 12:
        raise ConfigError(f"canary_digits must be an integer from 1 to 12, got {digits!r}")
    return digits


def make_canaries(counts, digits: int = 6, seed: int = 0) -> list[dict]:
    """One canary per count (``{"text", "secret", "count"}``) and a last control canary with count 0."""
    counts, digits = parse_counts(counts), _check_digits(digits)
    if len(counts) + 1 > 10 ** digits:
        raise ConfigError(f"{len(counts)} canaries and a control need more than the 10^{digits} secrets; raise canary_digits")
    rng = random.Random(f"canaries-{seed}")
    secrets = rng.sample(range(10 ** digits), len(counts) + 1)
    return [{"text": PREFIX + f"{s:0{digits}d}", "secret": f"{s:0{digits}d}", "count": k}
            for s, k in zip(secrets, (*counts, 0))]


def insert_canaries(text: str, canaries: Sequence[dict], seed: int = 0) -> str:
    """``text`` with each canary line inserted ``count`` times before randomly chosen lines."""
    lines = text.splitlines(keepends=True)
    copies = [c["text"] + "\n" for c in canaries for _ in range(c["count"])]
    rng = random.Random(f"insert-{seed}")
    rng.shuffle(copies)
    where: dict[int, list[str]] = {}
    for line in copies:
        where.setdefault(rng.randrange(len(lines) + 1), []).append(line)
    if len(lines) in where and lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return "".join("".join(where.get(i, ())) + line for i, line in enumerate([*lines, ""]))


def lm_scorer(model, tokenizer, batch_size: int = 1024) -> Callable[[list[str]], np.ndarray]:
    """Px(text) = −log2 Pr(text | "\\n") under a causal LM with ``token_log_probs`` (bits)."""
    from ..utils import model_device

    device = model_device(model) if isinstance(model, torch.nn.Module) else torch.device("cpu")
    limit = getattr(getattr(model, "config", None), "block_size", None)

    @torch.no_grad()
    def score(texts: list[str]) -> np.ndarray:
        out = []
        for start in range(0, len(texts), batch_size):
            ids = tokenizer.encode_batch(["\n" + t for t in texts[start:start + batch_size]])
            width = max(map(len, ids))
            if limit is not None and width > limit:
                raise ConfigError(f"a canary is {width} tokens, longer than the model's context {limit}; use fewer canary_digits")
            x = torch.tensor([row + [0] * (width - len(row)) for row in ids], device=device)
            mask = torch.tensor([[0] + [1] * (len(row) - 1) + [0] * (width - len(row)) for row in ids], device=device)
            lp = model.token_log_probs(x).double() * mask
            out.append((-lp.sum(1) / math.log(2)).cpu().numpy())
        return np.concatenate(out)

    return score


def _candidates(digits: int, index: np.ndarray) -> list[str]:
    return [PREFIX + f"{int(s):0{digits}d}" for s in index]


def exposure_exact(score: Callable, canary: str, digits: int, batch: int = 4096) -> float:
    """log2 |R| − log2 rank(canary), every candidate scored."""
    space = 10 ** digits
    target = float(score([canary])[0])
    less = equal = 0
    for start in range(0, space, batch):
        px = score(_candidates(digits, np.arange(start, min(space, start + batch))))
        less += int((px < target - 1e-9).sum())
        equal += int((abs(px - target) <= 1e-9).sum())
    rank = less + (max(equal, 1) + 1) / 2
    return math.log2(space) - math.log2(rank)


def exposure_extrapolated(score: Callable, canary: str, digits: int, samples: int = 2000, seed: int = 0) -> float:
    """−log2 F(Px(canary)), F the skew-normal fitted to Px of ``samples`` uniform candidates."""
    from scipy.stats import skewnorm

    if samples < 10:
        raise ConfigError(f"exposure_samples must be at least 10, got {samples}")
    draw = np.random.default_rng(seed).integers(0, 10 ** digits, samples)
    px = score(_candidates(digits, draw))
    a, loc, scale = skewnorm.fit(px)
    log_cdf = float(skewnorm.logcdf(float(score([canary])[0]), a, loc, scale))
    return float(min(max(-log_cdf / math.log(2), 0.0), digits * math.log2(10)))


def exposure(score: Callable, canary: dict, method: str = "auto", samples: int = 2000, seed: int = 0) -> float:
    """Exposure of one canary (module docstring); ``method``: "auto" (exact when |R| ≤ 10^4), "exact", "extrapolate"."""
    digits = len(canary["secret"])
    if method not in ("auto", "exact", "extrapolate"):
        raise ConfigError(f"unknown exposure method {method!r}; use 'auto', 'exact' or 'extrapolate'")
    if method == "exact" or (method == "auto" and 10 ** digits <= EXACT_LIMIT):
        return exposure_exact(score, canary["text"], digits)
    return exposure_extrapolated(score, canary["text"], digits, samples, seed)
