"""Bits/dim on the ``digits`` test split through the probability-flow ODE (issue 10, item 6).

Trains a small ``ddpm`` (or loads ``--run``: a saved ``ddpm``, ``score-sde`` or ``flow-matching``), then
evaluates the probability-flow log-likelihood (dopri5, Hutchinson trace with one fixed Rademacher
probe per image) at uniformly dequantised test images::

    bpd = -(log p(x + u) + D log(2 / (L - 1))) / (D ln 2),   u ~ U(-1/(L-1), 1/(L-1))^D

- ddpm: ``ddpm_log_prob`` (the DDIM ODE of the discrete schedule);
- score-sde: the VP/VE/sub-VP probability-flow ODE from ``t_eps`` to 1 (``log p_{t_eps}``, as Song et al.);
- flow-matching: the learned velocity ODE from 0 to 1.

Class-conditional models are scored with the null class (unconditional ``log p(x)``).
``python benchmarks/score_digits_bpd.py --steps 1500 --out /tmp/score_runs/ddpm-digits``;
``python benchmarks/score_digits_bpd.py --run /tmp/score_runs/digits/score-sde --limit 120``. One thread.
"""
from __future__ import annotations

import argparse
import json
import math
import time

import torch

import genzoo as gz
from genzoo.samplers.likelihood_ode import ddpm_log_prob, gaussian_log_prob, ode_log_prob


def ode_likelihood(model, x, **kw):
    """``log p(x)`` (N,) by the model's probability-flow ODE with the Hutchinson trace."""
    if model.model_type == "ddpm":
        return ddpm_log_prob(model, x, trace="hutchinson", **kw)
    labels = model.likelihood_labels(x)
    if model.model_type == "score-sde":
        drift = model.sde.ode_drift(model.score_fn(labels))
        std = model.sde.prior_std
        return ode_log_prob(lambda z, t: drift(z, t[0]), x, model.config.t_eps, 1.0,
                            lambda z: gaussian_log_prob(z, std), trace="hutchinson", **kw)
    if model.model_type == "flow-matching":
        return ode_log_prob(lambda z, t: model.velocity(z, t, labels), x, 0.0, 1.0, gaussian_log_prob,
                            trace="hutchinson", **kw)
    raise SystemExit(f"no ODE likelihood here for {model.model_type}")


def dequantized_bpd(model, data, *, rtol: float, atol: float, batch: int, seed: int = 0, limit: int | None = None) -> dict:
    g = torch.Generator().manual_seed(seed)
    dims, width = math.prod(data.shape), 2.0 / (data.levels - 1)
    total, nfe = 0.0, 0
    n = min(limit or len(data), len(data))
    for start in range(0, n, batch):
        x = data.x[start:min(start + batch, n)]
        x = x + (torch.rand(x.shape, generator=g) - 0.5) * width
        stats: dict = {}
        lp = ode_likelihood(model, x, generator=g, rtol=rtol, atol=atol, stats=stats)
        total += lp.double().sum().item()
        nfe += stats["nfe"]
    mean_lp = total / n
    return {"bpd": -(mean_lp + dims * math.log(width)) / (dims * math.log(2)), "nll_nats": -mean_lp, "nfe": nfe,
            "images": n}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run", default=None, help="evaluate this saved ddpm instead of training")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--out", default=None)
    p.add_argument("--rtol", type=float, default=1e-4)
    p.add_argument("--atol", type=float, default=1e-4)
    p.add_argument("--eval-batch", type=int, default=128)
    p.add_argument("--limit", type=int, default=None, help="score only the first N test images")
    args = p.parse_args()
    torch.set_num_threads(1)
    train, test = gz.load_dataset("digits"), gz.load_dataset("digits", split="test")
    t0 = time.time()
    if args.run:
        model = gz.load(args.run)
    else:
        model = gz.build("ddpm", data=train, block_out_channels=(32, 64), attention_levels=(1,), clip_sample=False)
        gz.Trainer(model, train, steps=args.steps, batch_size=args.batch_size, lr=args.lr, out=args.out,
                   progress=False).fit()
    train_s = time.time() - t0
    model.eval()
    t0 = time.time()
    with torch.no_grad():
        res = dequantized_bpd(model, test, rtol=args.rtol, atol=args.atol, batch=args.eval_batch, limit=args.limit)
    res.update(model=model.model_type, steps=args.steps if not args.run else None, train_s=round(train_s, 1), eval_s=round(time.time() - t0, 1),
               rtol=args.rtol, atol=args.atol)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
