"""Posterior collapse of a text VAE (GRU decoder) on pystdlib, and the controls that prevent it.

Trains the same `vae` (backbone=rnn) with and without the controls (KL warm-up, free bits, word
dropout) and reports, on test sequences: KL (nats/sequence), active units (Burda et al. 2016:
A_u = #{d : Var_x E_q[z_d | x] > 0.01}), mutual information estimate, and the IWAE bound
(nats/char, k importance samples). Every ``--curve-every`` steps it also records the active units,
the KL and Var_x E_q[z_d | x] per dimension on the test chunks (the encoder is deterministic, so
this does not touch the training RNG) and draws the active-units-vs-step figure.

"Plain" is plain ELBO training (β = 1, no warm-up, no free bits, no word dropout, no weight decay,
no EMA). Two things keep the plain count above 0 (benchmarks/results/vae.md has the runs):
(1) on 32-char chunks a few dimensions keep a little real information (0.015-0.035 nats each),
whatever the lr or batch; 16-char chunks leave less for z to summarise and it goes away.
(2) a floor of Var_x μ_d ≈ 0.01 on every dimension: once the decoder ignores z the gradient on the
encoder's mean head is the KL pull μ plus minibatch noise (the reconstruction gradient through
z = μ + σε is pure noise), Adam divides by the noise RMS, and the pull shrinks the spread of μ
only slowly. A narrower encoder head (hidden 128, not 256), batch 256 and 8000 steps bring it
under the threshold: 0 active units from step 5400 on in the recorded run (a second run, from
another unseeded initialisation, ends with 1 unit at Var 0.0104).

    python benchmarks/vae_text_collapse.py        # 16-char chunks, batch 256, lr 1e-3, 8000 steps, hidden 128
    python benchmarks/vae_text_collapse.py --runs plain --block-size 32 --batch-size 64 --lr 2e-3 --steps 4000
    python benchmarks/vae_text_collapse.py --compare benchmarks/results/vae/text_collapse_*.curves.json
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

import genzoo as gz
from genzoo.objectives.elbo import active_units, gaussian_kl
from genzoo.plotting import _figure

RUNS = {
    "plain": {},
    "controls": {"warmup_steps": "400", "free_bits": "0.25", "word_dropout": "0.3"},
    "warmup+freebits": {"warmup_steps": "400", "free_bits": "0.1"},
}
LABELS = {"plain": "plain (β = 1)", "controls": "warm-up + free bits 0.25 + word dropout",
          "warmup+freebits": "warm-up 400 + free bits 0.1"}


class Curve:
    """Trainer callback: active units, KL and Var_x μ_d on fixed test chunks every ``every`` steps."""

    def __init__(self, x: torch.Tensor, every: int):
        self.x, self.every, self.rows = x, every, []

    @torch.no_grad()
    def record(self, model, step: int) -> None:
        mu, logvar = model.encode(self.x)
        var = mu.var(0)
        self.rows.append({"step": step, "active_units": active_units(mu), "kl": round(float(gaussian_kl(mu, logvar).mean(0).sum()), 4),
                          "mu_var": [round(float(v), 5) for v in var]})
        print(f"step {step}: active units {self.rows[-1]['active_units']}, KL {self.rows[-1]['kl']:.3f}, "
              f"max Var mu_d {float(var.max()):.4f}", flush=True)

    def __call__(self, trainer, step: int, logs) -> None:
        if step % self.every == 0 or step == trainer.steps:
            self.record(trainer.model, step)


def plot_curves(curves: dict[str, list[dict]], latent_dim: int, path: Path, title: str) -> None:
    fig = _figure((8.0, 3.4))
    ax_au, ax_var = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for name, rows in curves.items():
        steps = [r["step"] for r in rows]
        line, = ax_au.plot(steps, [r["active_units"] for r in rows], label=LABELS.get(name, name))
        ax_var.semilogy(steps, [max(r["mu_var"]) for r in rows], color=line.get_color(), label=f"{name}: max_d")
        ax_var.semilogy(steps, [sorted(r["mu_var"])[len(r["mu_var"]) // 2] for r in rows], color=line.get_color(),
                        linestyle="--", label=f"{name}: median_d")
    ax_au.set(xlabel="step", ylabel=f"active units (of {latent_dim})", ylim=(-0.5, latent_dim + 0.5), title=title)
    ax_var.axhline(0.01, color="k", linewidth=0.8, linestyle=":", label="threshold 0.01")
    ax_var.set(xlabel="step", ylabel="Var_x E_q[z_d|x] (test chunks)")
    ax_au.legend(fontsize=7)
    ax_var.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path)


def plot_plain_settings(paths: list[Path], latent_dim: int, out: Path) -> None:
    """Active units vs step of the plain run of each curve file (one line per training setting)."""
    fig = _figure((5.0, 3.4))
    ax = fig.add_subplot()
    for path in paths:
        rows = json.loads(path.read_text())["plain"]
        label = path.name.removeprefix("text_collapse_").removesuffix(".curves.json")
        ax.plot([r["step"] for r in rows], [r["active_units"] for r in rows], label=label)
    ax.set(xlabel="step", ylabel=f"active units (of {latent_dim})", ylim=(-0.5, latent_dim + 0.5),
           title="plain ELBO: b batch, t chunk length, h hidden")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=8000)
    p.add_argument("--block-size", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--latent-dim", type=int, default=16)
    p.add_argument("--hidden", default="128")
    p.add_argument("--embed-dim", type=int, default=32)
    p.add_argument("--n-test", type=int, default=300)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--curve-every", type=int, default=200)
    p.add_argument("--runs", default="plain,warmup+freebits")
    p.add_argument("--results", default="benchmarks/results/vae")
    p.add_argument("--tag", default=None, help="name of the curve file / figure (default: from the settings)")
    p.add_argument("--compare", nargs="*", default=None, metavar="CURVES_JSON",
                   help="only draw the plain runs' active units of these curve files into one figure (--tag names it)")
    args = p.parse_args()
    if args.compare is not None:
        plot_plain_settings([Path(c) for c in args.compare], args.latent_dim, Path(args.results) / f"{args.tag or 'text_collapse_plain_settings'}.png")
        return
    torch.set_num_threads(1)
    train = gz.load_dataset("pystdlib", split="train", tokenizer="char", block_size=args.block_size)
    test = gz.load_dataset("pystdlib", split="test", tokenizer="char", block_size=args.block_size)
    x_test = test.x[: args.n_test]
    tag = args.tag or f"text_collapse_b{args.batch_size}_lr{args.lr:g}_s{args.steps}_t{args.block_size}_h{args.hidden}"
    out_dir = Path(args.results)
    out_dir.mkdir(parents=True, exist_ok=True)
    curve_path = out_dir / f"{tag}.curves.json"
    curves = json.loads(curve_path.read_text()) if curve_path.exists() else {}
    for name in args.runs.split(","):
        torch.manual_seed(0)  # seeded initial weights (the rows recorded on 2026-11-25 predate this line)
        model = gz.build("vae", train, latent_dim=args.latent_dim, hidden=args.hidden,
                         embed_dim=args.embed_dim, **RUNS[name])
        curve = Curve(x_test, args.curve_every)
        curve.record(model, 0)
        t0 = time.time()
        gz.Trainer(model, train, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=0,
                   out=f"/tmp/gz_runs/vae-text-{name}", ema_decay=None, progress=False,
                   sample_every=10**9, checkpoint_every=10**9, callbacks=[curve]).fit()
        train_s = time.time() - t0
        model.eval()
        with torch.no_grad():
            diag = model.diagnostics(x_test)
            mu_var = model.encode(x_test)[0].var(0)
            iwae = model.log_prob(x_test, k=args.k).mean().item()
            elbo = model.elbo(x_test).mean().item()
            samples = model.sample(4, generator=torch.Generator().manual_seed(0))
        row = {"run": name, "controls": RUNS[name], "steps": args.steps, "block_size": args.block_size,
               "batch_size": args.batch_size, "lr": args.lr, "hidden": args.hidden, "embed_dim": args.embed_dim,
               "kl": round(diag["kl"], 3), "active_units": diag["active_units"], "latent_dim": args.latent_dim,
               "max_mu_var": round(float(mu_var.max()), 5),
               "mi": round(diag["mi"], 3), "elbo_nats_per_char": round(-elbo / args.block_size, 4),
               f"iwae{args.k}_nats_per_char": round(-iwae / args.block_size, 4),
               "iwae_bpc": round(-iwae / args.block_size / math.log(2), 4), "train_s": round(train_s, 1),
               "kl_per_dim": [round(v, 3) for v in diag["kl_per_dim"]],
               "samples": [train.tokenizer.decode(s.tolist()) for s in samples]}
        with open(out_dir / "text_collapse.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
        curves[name] = curve.rows
        curve_path.write_text(json.dumps(curves))
        title = f"batch {args.batch_size}, lr {args.lr:g}, {args.block_size}-char chunks"
        plot_curves(curves, args.latent_dim, out_dir / f"{tag}.png", title)


if __name__ == "__main__":
    main()
