"""Train the 4-layer/128-dim character GPT on ``pystdlib`` for a fixed CPU time budget.

Target (issue 4): validation loss <= 1.5 nats/char within 15 minutes of CPU training. Time is
this process's CPU time (``time.process_time``, one thread), not wall time, since the machine is
shared. The step count is calibrated from a few timed steps so the cosine schedule ends inside the
budget; the validation loss (on a fixed 256-block slice of the test split) is logged every
``--eval-every`` steps against CPU minutes, and the final model is scored on the full test split with
``genzoo.evaluate(..., ["nll", "perplexity"])``. Writes ``benchmarks/results/gpt_char_curve.png``
and ``gpt_char_curve.json``.

    nohup python benchmarks/train_gpt_char.py --minutes 15 > train.log 2>&1 &
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import genzoo as gz

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=15.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=24)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--out", default="runs/gpt-pystdlib-char")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t_start = time.process_time()
    train = gz.load_dataset("pystdlib", split="train", tokenizer="char")
    test = gz.load_dataset("pystdlib", split="test", tokenizer="char")
    model = gz.build("gpt", train, n_layer=4, n_head=4, n_embd=128)
    model.attach_data(train)
    val = test.x[torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[:256]]

    # calibrate: seconds per optimisation step on this (shared) machine
    probe = gz.build("gpt", train, n_layer=4, n_head=4, n_embd=128)
    opt = torch.optim.AdamW(probe.parameters(), lr=1e-3)
    t = time.process_time()
    for i in range(5):
        opt.zero_grad()
        probe.loss(train.x[i * args.batch_size:(i + 1) * args.batch_size])["loss"].backward()
        opt.step()
    per_step = (time.process_time() - t) / 5
    budget = args.minutes * 60 - (time.process_time() - t_start)
    steps = int(budget * 0.88 / per_step)  # leave room for the validation passes
    print(f"{per_step:.3f} s/step -> {steps} steps", flush=True)

    curve = []

    def val_loss(trainer, step, logs):
        if step % args.eval_every and step != steps:
            return
        model.eval()
        with torch.no_grad():
            loss = torch.cat([model.loss(val[i:i + 64])["loss"][None] for i in range(0, len(val), 64)]).mean().item()
        model.train()
        elapsed = time.process_time() - t_start
        curve.append({"step": step, "minutes": elapsed / 60, "train_loss": float(logs.get("loss", float("nan"))), "val_loss": loss})
        print(f"step {step} {elapsed / 60:.1f} CPU min train {curve[-1]['train_loss']:.3f} val {loss:.3f}", flush=True)
        write_results(curve, {"steps": steps, "batch_size": args.batch_size, "lr": args.lr, "minutes": elapsed / 60})
        if elapsed > args.minutes * 60:
            trainer.stop()

    gz.Trainer(model, train, steps=steps, batch_size=args.batch_size, lr=args.lr, warmup=min(100, steps // 10),
               ema_decay=None, out=args.out, callbacks=[val_loss], progress=False, log_every=args.eval_every).fit()
    minutes = (time.process_time() - t_start) / 60
    final = gz.evaluate(model, test, ["nll", "perplexity"])
    print(f"done in {minutes:.1f} CPU min; test {final}", flush=True)
    write_results(curve, {"steps": steps, "batch_size": args.batch_size, "lr": args.lr, "minutes": minutes, "test": final})


def write_results(curve: list[dict], summary: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gpt_char_curve.json").write_text(json.dumps({**summary, "curve": curve}, indent=1))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([c["minutes"] for c in curve], [c["train_loss"] for c in curve], label="train (batch)")
    ax.plot([c["minutes"] for c in curve], [c["val_loss"] for c in curve], label="validation")
    ax.axhline(1.5, color="grey", ls="--", lw=1, label="target 1.5")
    ax.set_xlabel("CPU minutes (1 thread, shared 2-core CPU)")
    ax.set_ylabel("nats / char")
    ax.set_title("GPT 4L/128d, pystdlib char")
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "gpt_char_curve.png", dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
