"""Train a score-sde (or any ODE-likelihood model) on a 2-D density set and compare its ODE NLL with the
true entropy (``info["entropy"]``): ``python benchmarks/score_2d_nll.py --model score-sde --steps 6000``.

Prints one JSON line: nll (nats, exact-trace ODE likelihood on the test split), entropy, relative gap,
training seconds. Keep it on one thread (the machine is shared).
"""
from __future__ import annotations

import argparse
import json
import time

import torch

import genzoo as gz
from genzoo.samplers.likelihood_ode import ddpm_log_prob


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="score-sde")
    p.add_argument("--data", default="8gaussians")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--n-test", type=int, default=2000)
    p.add_argument("--out", default=None)
    p.add_argument("--set", nargs="*", default=[])
    args = p.parse_args()
    torch.set_num_threads(1)
    overrides = dict(kv.split("=", 1) for kv in args.set)
    train, test = gz.load_dataset(args.data), gz.load_dataset(args.data, split="test")
    model = gz.build(args.model, data=args.data, **overrides)
    t0 = time.time()
    gz.Trainer(model, train, steps=args.steps, batch_size=args.batch_size, lr=args.lr, out=args.out,
               progress=False).fit()
    train_s = time.time() - t0
    model.eval()
    stats: dict = {}
    t0 = time.time()
    x = test.x[: args.n_test]
    with torch.no_grad():
        if hasattr(model, "flow"):              # continuous.py families: exact-trace ODE, NFE reported
            lp = model.log_prob(x, stats=stats)
        elif model.model_type == "ddpm":        # discrete DDPM through its DDIM probability-flow ODE
            lp = ddpm_log_prob(model, x, trace="exact", stats=stats)
        else:
            lp = model.log_prob(x)
    nll, h = -lp.mean().item(), test.info["entropy"]
    print(json.dumps({"model": args.model, "data": args.data, "steps": args.steps, "overrides": overrides,
                      "nll": round(nll, 4), "entropy": round(h, 4), "rel_gap": round((nll - h) / h, 4),
                      "true_nll_test": round(-test.log_density(test.x[: args.n_test]).mean().item(), 4),
                      "nfe": stats.get("nfe"), "train_s": round(train_s, 1), "eval_s": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
