"""NFE vs sample quality on a 2-D set for the continuous-time samplers (issue 10): score-sde
(predictor-corrector SDE, reverse-SDE Euler-Maruyama, probability-flow ODE with dopri5), ddpm
(DPM-Solver++(2M), DDIM, DDPM ancestral) and flow-matching (Euler, Heun, dopri5).

    python benchmarks/score_nfe.py --runs score-sde=/tmp/score_runs/vp8g ddpm=/tmp/score_runs/ddpm8g \
        flow-matching=/tmp/score_runs/fm8g --data 8gaussians --n 2000

Quality: MMD^2 (RBF, median-heuristic bandwidths, unbiased) and squared energy distance between
``n`` samples and ``n`` test points; NFE counted by a forward hook on the network (one call = one
batched evaluation). Prints a markdown table. One thread.
"""
from __future__ import annotations

import argparse
import time

import torch

import genzoo as gz

GRID = {
    "score-sde": [("pc", dict(sampler="pc", steps=s)) for s in (25, 50, 100, 250)]
    + [("em", dict(sampler="em", steps=s)) for s in (50, 100, 250, 500)]
    + [("ode dopri5", dict(sampler="ode"))],
    "ddpm": [("dpm++2m", dict(sampler="dpm++2m", steps=s)) for s in (5, 10, 20)]
    + [("ddim", dict(sampler="ddim", steps=s)) for s in (10, 50)] + [("ddpm", dict(sampler="ddpm", steps=1000))],
    "flow-matching": [("euler", dict(sampler="euler", steps=s)) for s in (5, 10, 20, 50)]
    + [("heun", dict(sampler="heun", steps=s)) for s in (3, 5, 10, 25)] + [("dopri5", dict(sampler="dopri5"))],
    "ncsn": [("annealed langevin", dict(n_steps_each=s)) for s in (10, 50)],
}


def count_calls(module: torch.nn.Module) -> list[int]:
    calls = [0]
    module.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", nargs="+", required=True, help="family=DIR pairs")
    p.add_argument("--data", default="8gaussians")
    p.add_argument("--n", type=int, default=2000)
    args = p.parse_args()
    torch.set_num_threads(1)
    ref = gz.load_dataset(args.data, split="test").x[: args.n]
    print(f"| model | sampler | steps | NFE | MMD^2 (x1e3) | energy dist. (x1e3) | seconds |")
    print("|---|---|---|---|---|---|---|")
    for pair in args.runs:
        family, run = pair.split("=", 1)
        model = gz.load(run).eval()
        calls = count_calls(model.net)
        for label, kw in GRID[family]:
            calls[0] = 0
            t0 = time.time()
            x = model.sample(args.n, generator=torch.Generator().manual_seed(0), **kw)
            secs = time.time() - t0
            mmd = gz.metrics.mmd(x, ref) * 1e3
            ed = gz.metrics.energy_distance(x, ref) * 1e3
            print(f"| {family} | {label} | {kw.get('steps', kw.get('n_steps_each', '-'))} | {calls[0]} | "
                  f"{mmd:.2f} | {ed:.2f} | {secs:.1f} |", flush=True)
    base = gz.load_dataset(args.data).x[: args.n]
    print(f"| (train set itself) | - | - | 0 | {gz.metrics.mmd(base, ref) * 1e3:.2f} | "
          f"{gz.metrics.energy_distance(base, ref) * 1e3:.2f} | - |")


if __name__ == "__main__":
    main()
