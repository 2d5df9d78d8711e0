"""Likelihood metrics: NLL (nats), bits per dimension, perplexity.

For quantised data with L levels stored in [-1, 1] (bin width Δ = 2 / (L - 1)), a continuous density
p gives the discrete probability P(v) = ∫_bin p ≥ Δ^D exp E_u[log p(x + Δ(u - ½))], u ~ U[0,1)^D
(uniform dequantisation, Theis et al. 2016), so ``bpd`` = -(E_u log p(x + Δ(u-½)) + D log Δ)/(D ln 2)
is an upper bound on the true bits/dim (one seeded noise draw per example; flows use their own
importance-weighted bound ``dequantized_log_prob``). ``nll`` stays the density at the data points.
Models whose ``log_prob`` is already a probability mass (``discrete_log_prob``) need no correction.
For text, ``nll`` is nats per token and ``perplexity`` = exp(nll).
"""
from __future__ import annotations

import inspect
import math

import torch

from ..errors import ConfigError, NotSupported
from ..registry import register_metric
from ..utils import model_device, rand


@torch.no_grad()
def mean_log_prob(model, data, batch_size: int = 512, max_examples: int | None = None, log_prob=None) -> float:
    """Average per-example ``log_prob`` (or the given ``log_prob`` function) over a dataset
    (or its first ``max_examples``)."""
    if not hasattr(model, "log_prob"):
        raise NotSupported(f"{type(model).__name__} has no log_prob; use sample-based metrics")
    fn = log_prob or model.log_prob
    # class-conditional models score with their labels when their log_prob takes them
    labelled = (data.y is not None and getattr(model.config, "num_classes", None)
                and "y" in inspect.signature(model.log_prob).parameters)
    n = len(data) if max_examples is None else min(len(data), max_examples)
    device = model_device(model)
    total, count = 0.0, 0
    for start in range(0, n, batch_size):
        idx = torch.arange(start, min(n, start + batch_size))
        x = data.x[idx].to(device)
        lp = fn(x, y=data.y[idx].to(device)) if labelled else fn(x)
        if lp.shape != (len(idx),):
            raise ConfigError(f"{type(model).__name__}.log_prob returned shape {tuple(lp.shape)}, expected ({len(idx)},)")
        total += lp.double().sum().item()
        count += len(idx)
    return total / count


def mean_lp_count(data, opts: dict) -> int:
    """How many examples ``mean_log_prob`` reads with these options."""
    return len(data) if opts.get("max_examples") is None else min(len(data), opts["max_examples"])


def likelihood_metrics(model, data, **kw) -> dict[str, float]:
    """``{"nll", "bpd"}`` (images, 2-D) or ``{"nll", "bpc"/"bpt", "perplexity"}`` (text).

    For a density model on quantised data that can bound the dequantised likelihood
    (``dequantized_log_prob``, e.g. flows: Flow++ eq. 13), ``bpd`` uses that bound, so it is an upper
    bound on the true bits/dim rather than the bin-centre approximation.
    """
    opts = {k: v for k, v in kw.items() if k in ("batch_size", "max_examples")}
    mean_lp = mean_log_prob(model, data, **opts)
    dims = int(math.prod(data.shape))
    if data.kind == "seq2seq":  # packed (source | target) pairs: per target token, EOS included
        info = data.info
        targets = data.x[:mean_lp_count(data, opts), info["max_source_length"]:] != info["pad_token_id"]
        nll = -mean_lp / targets.sum(1).double().mean().item()
        return {"nll": nll, "bpt": nll / math.log(2), "perplexity": math.exp(nll)}
    if data.kind == "text":
        nll = -mean_lp / dims
        return {"nll": nll, "bpc": nll / math.log(2), "perplexity": math.exp(nll)}
    nll = -mean_lp
    log_p = mean_lp
    if data.levels and not getattr(model, "discrete_log_prob", False):
        gen = kw.get("generator") or torch.Generator().manual_seed(0)
        if hasattr(model, "dequantized_log_prob") and getattr(model.config, "levels", None):
            bound = lambda x, **k: model.dequantized_log_prob(x, generator=gen)  # noqa: E731
        else:  # uniform dequantisation: log P(v) >= E_u log p(x + Δ(u - ½)) + D log Δ (Theis et al. 2016)
            width = 2.0 / (data.levels - 1)
            bound = lambda x, **k: model.log_prob(x + (rand(x.shape, generator=gen, device=x.device) - 0.5) * width, **k)  # noqa: E731
        mean_lp = mean_log_prob(model, data, **opts, log_prob=bound)
        log_p = mean_lp + dims * math.log(2.0 / (data.levels - 1))
    return {"nll": nll, "bpd": -log_p / (dims * math.log(2))}


register_metric("nll")(likelihood_metrics)
register_metric("bpd")(likelihood_metrics)
register_metric("perplexity")(likelihood_metrics)
