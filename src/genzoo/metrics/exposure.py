"""Registered ``exposure``: canary exposure of a text model (Carlini et al. 2019; the equations are in
``genzoo.privacy.canaries``). The canaries come from ``canaries=`` (a list of ``{"text", "secret",
"count"}``), else from the dataset (``info["canaries"]``, set by ``--data-arg canaries=1,10,100``);
``genzoo eval`` also reads the run's ``canaries.json``. Keys: ``exposure_k{K}`` per insertion count,
``exposure_control`` (a canary never inserted: ≈ 1 bit) and ``exposure_max`` = log2 |R|.
"""
from __future__ import annotations

import math

from ..errors import ConfigError, NotSupported
from ..registry import register_metric


@register_metric("exposure")
def exposure_metric(model, data, *, canaries=None, exposure_method: str = "auto", exposure_samples: int = 2000,
                    seed: int = 0, **_) -> dict[str, float]:
    """Exposure of every recorded canary (module docstring)."""
    from ..privacy.canaries import exposure, lm_scorer

    canaries = canaries if canaries is not None else getattr(data, "info", {}).get("canaries")
    if not canaries:
        raise ConfigError("exposure needs the run's canaries: train with --data-arg canaries=1,10,100 "
                          "and evaluate on the same --data (or pass canaries=)")
    if not hasattr(model, "token_log_probs"):
        raise NotSupported(f"{type(model).__name__} has no token_log_probs; exposure needs a causal text model")
    tokenizer = getattr(model, "tokenizer", None) or getattr(data, "tokenizer", None)
    if tokenizer is None:
        raise ConfigError("exposure needs a tokenizer: the model or the dataset must carry one")
    training = bool(getattr(model, "training", False))
    model.eval()  # dropout off while scoring
    try:
        score = lm_scorer(model, tokenizer)
        out = {(f"exposure_k{c['count']}" if c["count"] else "exposure_control"):
               exposure(score, c, exposure_method, exposure_samples, seed) for c in canaries}
    finally:
        model.train(training)
    out["exposure_max"] = len(canaries[0]["secret"]) * math.log2(10)
    return out
