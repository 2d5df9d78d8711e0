"""NFE vs image quality on ``digits`` (8x8) for the score-based samplers (issue 10).

Trains ``ddpm``, ``score-sde`` (VP) and ``flow-matching`` with one fixed budget (same U-Net 32/64,
attention at the lowest level, class-conditional with label dropout; Trainer defaults: AdamW,
cosine, EMA 0.999), then for each sampler and NFE draws ``--n`` samples (one fixed generator, class
labels cycling 0..9) and scores them with the project's FID-digits and KID (the shipped digits
classifier's features) against the ``digits`` test split::

    python benchmarks/score_nfe_digits.py train --root /tmp/score_runs/digits --steps 2000
    python benchmarks/score_nfe_digits.py sweep --root /tmp/score_runs/digits \
        --jsonl benchmarks/results/score/nfe_digits.jsonl
    python benchmarks/score_nfe_digits.py report --jsonl benchmarks/results/score/nfe_digits.jsonl \
        --png benchmarks/results/score/nfe_digits.png

NFE = batched network evaluations per sample (forward hook, divided by the number of batches).
``sweep`` appends one JSON row per (model, sampler, steps) and skips rows already in the file, so it
can be resumed. One thread.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import genzoo as gz

FAMILIES = ("ddpm", "score-sde", "flow-matching")
NET = dict(block_out_channels=(32, 64), attention_levels=(1,))

GRID = {
    "ddpm": [("dpm++2m", dict(sampler="dpm++2m", steps=s)) for s in (5, 10, 20)]
    + [("ddim", dict(sampler="ddim", steps=s)) for s in (10, 50)] + [("ddpm", dict(sampler="ddpm", steps=250))],
    "score-sde": [("pc", dict(sampler="pc", steps=s)) for s in (25, 50, 100, 250)]
    + [("em", dict(sampler="em", steps=100)), ("ode dopri5", dict(sampler="ode"))],
    "flow-matching": [("euler", dict(sampler="euler", steps=s)) for s in (5, 10, 20)]
    + [("heun", dict(sampler="heun", steps=s)) for s in (5, 10)],
}


def train(args) -> None:
    data = gz.load_dataset("digits")
    root = Path(args.root)
    for family in args.families:
        out = root / family
        if (out / "model.safetensors").is_file():
            print(f"{family}: already trained in {out}")
            continue
        model = gz.build(family, data=data, **NET)
        t0 = time.time()
        gz.Trainer(model, data, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=0, out=out,
                   sample_every=0, progress=False).fit()
        model.save_pretrained(out)
        info = {"family": family, "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
                "train_s": round(time.time() - t0, 1)}
        (out / "train_info.json").write_text(json.dumps(info))
        print(json.dumps(info), flush=True)


def count_calls(module: torch.nn.Module) -> list[int]:
    calls = [0]
    module.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def draw(model, n: int, batch: int, kw: dict) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        return torch.cat([model.sample(min(batch, n - s), generator=g, **kw) for s in range(0, n, batch)])


def sweep(args) -> None:
    test = gz.load_dataset("digits", split="test")
    path = Path(args.jsonl)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if path.is_file():
        for line in path.read_text().splitlines():
            r = json.loads(line)
            done.add((r["model"], r["sampler"], r["steps"]))
    for family in args.families:
        run = Path(args.root) / family
        model = gz.load(run).eval()
        info = json.loads((run / "train_info.json").read_text()) if (run / "train_info.json").is_file() else {}
        calls = count_calls(model.net)
        for label, kw in GRID[family]:
            key = (family, label, kw.get("steps"))
            if key in done:
                continue
            calls[0] = 0
            t0 = time.time()
            x = draw(model, args.n, args.batch, kw)
            secs = time.time() - t0
            batches = -(-args.n // args.batch)
            m = gz.evaluate(x, test, metrics=["fid", "kid"])
            row = {"model": family, "sampler": label, "steps": kw.get("steps"), "nfe": round(calls[0] / batches, 1),
                   "fid": round(m["fid"], 4), "kid": round(m["kid"], 6), "kid_std": round(m["kid_std"], 6),
                   "features": m["fid_feature_extractor"], "n": args.n, "seconds": round(secs, 1),
                   "train_steps": info.get("steps")}
            with path.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)


def reference_rows(n: int) -> list[dict]:
    """The floor: the first and the last ``n`` training images, scored the same way."""
    train, test = gz.load_dataset("digits"), gz.load_dataset("digits", split="test")
    rows = []
    for name, x in (("first", train.x[:n]), ("last", train.x[-n:])):
        m = gz.evaluate(x, test, metrics=["fid", "kid"])
        rows.append({"model": f"(train set itself, {name} {n})", "sampler": "-", "steps": None, "nfe": 0,
                     "fid": m["fid"], "kid": m["kid"], "kid_std": m["kid_std"], "seconds": None})
    return rows


def report(args) -> None:
    rows = [json.loads(line) for line in Path(args.jsonl).read_text().splitlines()]
    print("| model | sampler | steps | NFE | FID-digits | KID (mean ± sd over subsets) | seconds |")
    print("|---|---|---|---|---|---|---|")
    floor = reference_rows(args.n)
    for r in rows + floor:
        nfe = int(r["nfe"]) if float(r["nfe"]).is_integer() else r["nfe"]
        print(f"| {r['model']} | {r['sampler']} | {r['steps'] if r['steps'] is not None else '-'} | {nfe} | "
              f"{r['fid']:.2f} | {r['kid']:.0f} ± {r['kid_std']:.0f} | {r['seconds'] or '-'} |")
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        series: dict[str, list] = {}
        for r in rows:
            series.setdefault(f"{r['model']} {r['sampler']}", []).append((r["nfe"], r["fid"]))
        for name, pts in series.items():
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=name)
        lo, hi = sorted(r["fid"] for r in floor)
        ax.axhspan(lo, hi, color="gray", alpha=0.25, label=f"{args.n} train images (2 sets)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("NFE (network evaluations per sample)")
        ax.set_ylabel("FID-digits (1000 samples vs test)")
        ax.set_title("digits 8x8: NFE vs FID")
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        fig.savefig(args.png, dpi=120)
        print(f"wrote {args.png}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("phase", choices=("train", "sweep", "report"))
    p.add_argument("--root", default="/tmp/score_runs/digits")
    p.add_argument("--families", nargs="+", default=list(FAMILIES))
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--jsonl", default="benchmarks/results/score/nfe_digits.jsonl")
    p.add_argument("--png", default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    {"train": train, "sweep": sweep, "report": report}[args.phase](args)


if __name__ == "__main__":
    main()
