"""Flows benchmark: genzoo vs zuko on two-moons, in one process, on the same batches.

Workload (= /work/shared/bench/anchors/zuko_moons.py): 20,000 training / 5,000 test points of
``make_moons(noise=0.05)`` (genzoo's ``moons`` holds the same arrays), 4 transforms, hidden 64x64,
batch 256, lr 1e-3, 2000 steps. zuko trains with ``torch.optim.Adam`` as in the anchor; genzoo
with the optimizer its Trainer uses (``model.configure_optimizers``; pass ``--same-optimizer`` to
give genzoo the anchor's plain Adam as well).

The two runs are interleaved in chunks of ``--eval-every`` steps so that the load of a shared
machine hits both alike; the test NLL is measured after every chunk with the clock stopped.
Reported: steps/s, final test NLL, and the headline figure: genzoo's training time until its test
NLL first reaches zuko's final test NLL, divided by zuko's total training time (lower is better;
the target is <= 0.67).

    python benchmarks/bench_flows.py                      # NSF and MAF, 2000 steps
    python benchmarks/bench_flows.py --models nsf --steps 500
    python benchmarks/bench_flows.py quality               # Trainer runs on 8gaussians / moons + figures

``quality`` trains every flow with ``gz.Trainer`` (its defaults: AdamW, warmup + cosine, EMA) on the
2-D sets and reports test NLL next to the true entropy (8gaussians) and draws density heatmaps and
samples.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

import genzoo as gz


class Contestant:
    """One model + optimizer trained on its own (identically seeded) stream of batches."""

    def __init__(self, name, module, log_prob, optimizer, train, seed=0):
        self.name, self.module, self.log_prob, self.opt, self.train = name, module, log_prob, optimizer, train
        self.batches = torch.Generator().manual_seed(seed)
        self.seconds, self.steps, self.curve = 0.0, 0, []

    def run(self, steps, batch_size):
        start = time.perf_counter()
        for _ in range(steps):
            x = self.train[torch.randint(0, len(self.train), (batch_size,), generator=self.batches)]
            loss = -self.log_prob(x).mean()
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        self.seconds += time.perf_counter() - start
        self.steps += steps

    @torch.no_grad()
    def evaluate(self, test):
        self.module.eval()
        nll = -self.log_prob(test).mean().item()
        self.module.train()
        self.curve.append((self.steps, self.seconds, nll))
        return nll


def contestants(kind, train, args):
    import zuko

    torch.manual_seed(args.seed)
    zk = getattr(zuko.flows, kind.upper())(2, transforms=4, hidden_features=(64, 64))
    zuko_c = Contestant(f"zuko {kind.upper()}", zk, lambda x: zk().log_prob(x), torch.optim.Adam(zk.parameters(), args.lr), train, args.seed)
    torch.manual_seed(args.seed)
    model = gz.build(kind, None, transforms=4, hidden=(64, 64))
    model.train()
    opt = torch.optim.Adam(model.parameters(), args.lr) if args.same_optimizer else model.configure_optimizers(lr=args.lr)[0]
    ours = Contestant(f"genzoo {kind}", model, model.log_prob, opt, train, args.seed)
    return zuko_c, ours


def time_to_reach(curve, target, window=1):
    """Training seconds (clock stopped during evaluation) when the mean NLL of ``window`` consecutive
    evaluations first reaches ``target`` (window > 1 guards against one lucky evaluation)."""
    for i in range(window - 1, len(curve)):
        if sum(c[2] for c in curve[i - window + 1: i + 1]) / window <= target:
            return curve[i][0], curve[i][1]
    return None, None


def compare(kind, train, test, args):
    theirs, ours = contestants(kind, train, args)
    for c in (theirs, ours):  # warm-up step outside the clock (allocator, lazy init), then reset
        c.evaluate(test)
        c.curve.clear()
    while ours.steps < args.steps:
        chunk = min(args.eval_every, args.steps - ours.steps)
        for c in (theirs, ours) if (ours.steps // chunk) % 2 == 0 else (ours, theirs):
            c.run(chunk, args.batch_size)
            c.evaluate(test)
    target = theirs.curve[-1][2]
    steps_hit, t_hit = time_to_reach(ours.curve, target)
    # smoothed: zuko's mean over its last 3 evaluations vs genzoo's first 3-evaluation mean at/below it
    target3 = sum(c[2] for c in theirs.curve[-3:]) / 3
    steps3, t3 = time_to_reach(ours.curve, target3, window=3)
    res = {
        "model": kind,
        "zuko": {"steps_per_s": theirs.steps / theirs.seconds, "seconds": theirs.seconds, "test_nll": target, "curve": theirs.curve},
        "genzoo": {"steps_per_s": ours.steps / ours.seconds, "seconds": ours.seconds, "test_nll": ours.curve[-1][2], "curve": ours.curve},
        "step_speed_ratio": (ours.steps / ours.seconds) / (theirs.steps / theirs.seconds),
        "genzoo_steps_to_zuko_final_nll": steps_hit,
        "time_to_zuko_final_nll_ratio": None if t_hit is None else t_hit / theirs.seconds,
        "zuko_final_nll_mean3": target3,
        # the NLL after a constant-lr run moves by a few 0.01 between evaluations: compare the last 5
        "zuko_last5_mean_nll": sum(c[2] for c in theirs.curve[-5:]) / 5,
        "genzoo_last5_mean_nll": sum(c[2] for c in ours.curve[-5:]) / 5,
        "genzoo_steps_to_zuko_final_nll_mean3": steps3,
        "time_to_zuko_final_nll_mean3_ratio": None if t3 is None else t3 / theirs.seconds,
    }
    hit = "never" if t_hit is None else f"{t_hit:.1f}s at step {steps_hit} -> ratio {res['time_to_zuko_final_nll_ratio']:.2f}"
    print(f"{kind}: zuko {res['zuko']['steps_per_s']:.0f} steps/s NLL {target:.3f} ({theirs.seconds:.1f}s) | "
          f"genzoo {res['genzoo']['steps_per_s']:.0f} steps/s NLL {res['genzoo']['test_nll']:.3f} ({ours.seconds:.1f}s) | "
          f"step speed x{res['step_speed_ratio']:.2f} | genzoo reaches zuko's final NLL: {hit}", flush=True)
    print(f"  mean test NLL over the last 5 evaluations: zuko {res['zuko_last5_mean_nll']:.3f}, genzoo {res['genzoo_last5_mean_nll']:.3f}", flush=True)
    if t3 is not None:
        print(f"  smoothed (3 evaluations): zuko final {target3:.3f}; genzoo reaches it at step {steps3}, "
              f"{t3:.1f}s -> ratio {t3 / theirs.seconds:.2f}", flush=True)
    return res


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 3.6), squeeze=False)
    for ax, res in zip(axes[0], results):
        for who, style in (("zuko", "--"), ("genzoo", "-")):
            curve = res[who]["curve"]
            ax.plot([c[1] for c in curve], [c[2] for c in curve], style, label=f"{who} {res['model']}")
        ax.axhline(res["zuko"]["test_nll"], color="grey", lw=0.5)
        ax.set(xlabel="training seconds (eval excluded)", ylabel="test NLL (nats)", title=f"{res['model']} on moons",
               ylim=(res["zuko"]["test_nll"] - 0.2, res["zuko"]["test_nll"] + 1.0))
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


QUALITY_MODELS = {"nsf": {}, "maf": {}, "realnvp": {}, "glow": {"steps": 8}, "iaf": {}}


def quality(args):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = args.datasets.split(",")
    models = [m for m in args.models.split(",") if m]
    rows = []
    fig, axes = plt.subplots(len(sets), 2 * len(models), figsize=(3 * 2 * len(models), 3 * len(sets)), squeeze=False)
    for i, name in enumerate(sets):
        train, test = gz.load_dataset(name, "train"), gz.load_dataset(name, "test")
        entropy = test.info.get("entropy")
        for j, kind in enumerate(models):
            torch.manual_seed(args.seed)
            model = gz.build(kind, train, **QUALITY_MODELS.get(kind, {}))
            start = time.perf_counter()
            gz.Trainer(model, train, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed, progress=False).fit()
            seconds = time.perf_counter() - start
            model.eval()
            nll = gz.evaluate(model, test, metrics=["nll"])["nll"]
            row = {"dataset": name, "model": kind, "steps": args.steps, "test_nll": nll, "train_seconds": seconds}
            if entropy is not None:
                row["entropy"] = entropy
                row["nll_over_entropy"] = nll / entropy
            rows.append(row)
            gap = f" entropy {entropy:.3f} ({100 * (nll / entropy - 1):+.1f}%)" if entropy is not None else ""
            print(f"{name:11s} {kind:8s} test NLL {nll:.3f}{gap}  [{seconds:.0f}s]", flush=True)
            density_and_samples(model, test, axes[i, 2 * j], axes[i, 2 * j + 1], f"{kind} on {name}: NLL {nll:.3f}")
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out.with_suffix(".png"), dpi=80)
    out.with_suffix(".json").write_text(json.dumps({"args": vars(args), "results": rows}, indent=1))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.png')}")


@torch.no_grad()
def density_and_samples(model, test, ax_density, ax_samples, title, n=200):
    lo, hi = test.x.min(0).values - 0.5, test.x.max(0).values + 0.5
    gx, gy = torch.linspace(lo[0], hi[0], n), torch.linspace(lo[1], hi[1], n)
    grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), -1).reshape(-1, 2)
    density = torch.cat([model.log_prob(chunk).exp() for chunk in grid.split(8192)]).reshape(n, n)
    ax_density.imshow(density, origin="lower", extent=(lo[0], hi[0], lo[1], hi[1]), cmap="magma", aspect="auto")
    ax_density.set_title(title, fontsize=8)
    s = model.sample(2000, generator=torch.Generator().manual_seed(0))
    ax_samples.scatter(s[:, 0], s[:, 1], s=1, alpha=0.5)
    ax_samples.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]))
    ax_samples.set_title("samples", fontsize=8)
    for ax in (ax_density, ax_samples):
        ax.set_xticks([]), ax.set_yticks([])


DIGIT_MODELS = {"glow": {"scales": 2, "steps": 4, "channels": 32, "blocks": 1},
                "realnvp": {"scales": 1, "channels": 32, "blocks": 1}, "maf": {"transforms": 5, "hidden": (256, 256)}}


def digits(args):
    """Image flows on ``digits`` (8x8, 17 levels): test bits/dim and a sample grid per model."""
    from genzoo.plotting import save_samples

    train, test = gz.load_dataset("digits", "train"), gz.load_dataset("digits", "test")
    out, rows = Path(args.out), []
    out.mkdir(parents=True, exist_ok=True)
    for kind in args.models.split(","):
        torch.manual_seed(args.seed)
        model = gz.build(kind, train, dequantization=args.dequantization, **DIGIT_MODELS.get(kind, {}))
        start = time.perf_counter()
        gz.Trainer(model, train, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed, progress=False).fit()
        seconds = time.perf_counter() - start
        model.eval()
        res = gz.evaluate(model, test, metrics=["bpd"])
        # the dequantisation bound itself: log P(v) >= IW estimate + D log Δ (importance-weighted, 16 samples)
        dims = test.x[0].numel()
        with torch.no_grad():
            bound = model.dequantized_log_prob(test.x, samples=16, generator=torch.Generator().manual_seed(0)).mean().item()
        res["bpd_dequantized_bound"] = -(bound + dims * math.log(model.bin_width)) / (dims * math.log(2))
        rows.append({"model": kind, "dequantization": args.dequantization, "steps": args.steps, **res, "train_seconds": seconds})
        print(f"digits {kind:8s} ({args.dequantization}) test NLL {res['nll']:.2f} nats, {res['bpd']:.3f} bits/dim "
              f"(dequantisation bound {res['bpd_dequantized_bound']:.3f}) [{seconds:.0f}s]", flush=True)
        save_samples(model.sample(64, generator=torch.Generator().manual_seed(0), temperature=args.temperature), out / f"digits_{kind}_{args.dequantization}.png")
    (out / f"digits_{args.dequantization}.json").write_text(json.dumps({"args": vars(args), "results": rows}, indent=1))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "digits":
        p = argparse.ArgumentParser(description="image flows on digits with gz.Trainer")
        p.add_argument("mode")
        p.add_argument("--models", default="glow,realnvp,maf")
        p.add_argument("--steps", type=int, default=1500)
        p.add_argument("--batch-size", type=int, default=64)
        p.add_argument("--lr", type=float, default=1e-3)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--temperature", type=float, default=0.8)
        p.add_argument("--dequantization", default="uniform", choices=["uniform", "variational"])
        p.add_argument("--threads", type=int, default=1)
        p.add_argument("--out", default="benchmarks/results/flows_digits")
        args = p.parse_args()
        torch.set_num_threads(args.threads)
        return digits(args)
    if len(sys.argv) > 1 and sys.argv[1] == "quality":
        p = argparse.ArgumentParser(description="flows quality on 2-D sets with gz.Trainer")
        p.add_argument("mode")
        p.add_argument("--models", default="nsf,maf,realnvp,glow,iaf")
        p.add_argument("--datasets", default="8gaussians,moons")
        p.add_argument("--steps", type=int, default=2000)
        p.add_argument("--batch-size", type=int, default=256)
        p.add_argument("--lr", type=float, default=1e-3)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--threads", type=int, default=1)
        p.add_argument("--out", default="benchmarks/results/flows_quality")
        args = p.parse_args()
        torch.set_num_threads(args.threads)
        return quality(args)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="nsf,maf")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (the anchor machine is 2-core and shared)")
    p.add_argument("--same-optimizer", action="store_true", help="plain torch.optim.Adam for genzoo too")
    p.add_argument("--out", default="benchmarks/results/flows_bench")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    train, test = gz.load_dataset("moons", "train").x, gz.load_dataset("moons", "test").x
    results = [compare(kind, train, test, args) for kind in args.models.split(",")]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    plot(results, out.with_suffix(".png"))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
