"""Parameter-efficient fine-tuning of a char GPT: held-out NLL for LoRA / DoRA / IA³ / prompt tuning /
bottleneck adapters / full fine-tuning, with the trainable-parameter share of each.

1. a char-level GPT is trained on ``pystdlib`` (Python source);
2. a procedural corpus it never saw is written (``ledger``: lines of a double-entry ledger,
   ``2024-03-17 | rent      | -1250.00 | balance 3411.52``, balances that add up) and split by
   ``text:PATH``'s fixed train/test split;
3. each method fine-tunes the base on the corpus's train split with the same steps, batch and
   seed (``genzoo.finetune.run.finetune_run``, i.e. ``genzoo finetune``), and is evaluated on its test
   split (nats per character).

    python benchmarks/finetune_text.py --out /tmp/ft-text            # the table in RESULTS.md (~1.5 CPU-hours)
    python benchmarks/finetune_text.py --base-steps 60 --steps 20   # a smoke run
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

METHODS = {  # method -> --set options
    "lora": {"r": "8", "lora_alpha": "16", "target_modules": "c_attn"},
    "lora-r4": {"r": "4", "lora_alpha": "8", "target_modules": "c_attn"},
    "lora-all": {"r": "8", "lora_alpha": "16", "target_modules": "all-linear"},
    "lora-emb": {"r": "8", "lora_alpha": "16", "target_modules": "c_attn,wte"},
    "dora": {"r": "8", "lora_alpha": "16", "target_modules": "c_attn"},
    "ia3": {"target_modules": "c_attn,mlp.c_proj", "feedforward_modules": "mlp.c_proj"},
    "prompt": {"num_virtual_tokens": "16", "prompt_tuning_init": "VOCAB"},
    "adapter": {"target_modules": "attn,mlp", "bottleneck_size": "16"},
    "full": {},
}
LR = {"full": 1e-3, "ia3": 3e-2, "prompt": 3e-2, "lora-all": 3e-3}


def ledger(n_lines: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    items = ["rent", "salary", "groceries", "power", "water", "transfer", "interest", "insurance", "fuel", "books"]
    balance, lines = 1000.0, []
    for i in range(n_lines):
        item = rng.choice(items)
        amount = round(rng.uniform(5, 3000) * (1 if item in ("salary", "interest", "transfer") else -1), 2)
        balance = round(balance + amount, 2)
        lines.append(f"2024-{1 + i // 28 % 12:02d}-{1 + i % 28:02d} | {item:<9} | {amount:+9.2f} | balance {balance:.2f}")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/finetune-text"))
    ap.add_argument("--base-steps", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--block-size", type=int, default=64)
    ap.add_argument("--methods", default="lora,full,ia3,adapter,prompt,dora",
                    help=f"comma-separated, from: {', '.join(METHODS)}")
    ap.add_argument("--n-embd", type=int, default=192)
    ap.add_argument("--n-layer", type=int, default=2)
    ap.add_argument("--n-head", type=int, default=4)
    args = ap.parse_args()

    import genzoo as gz
    from genzoo.cli.runs import eval_run, train_run
    from genzoo.finetune.run import finetune_run

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    corpus = out / "ledger.txt"
    corpus.write_text(ledger(6000))
    data_args = {"block_size": str(args.block_size)}
    base = out / "base"
    if not (base / "config.json").exists():
        train_run("gpt", "pystdlib", steps=args.base_steps, batch_size=args.batch_size, lr=3e-3, out=base, progress=False,
                  overrides={"n_layer": str(args.n_layer), "n_head": str(args.n_head), "n_embd": str(args.n_embd)}, data_args=data_args, sample_every=0)
    data = f"text:{corpus}"
    rows = [("base (no tuning)", 0, gz.load(base), eval_run(base, data, data_args=data_args)["nll"])]
    total = sum(p.numel() for p in rows[0][2].parameters())
    for method in args.methods.split(","):
        run = out / method
        # prompt tuning's virtual tokens take part of the context: its blocks are shorter
        method_args = ({"block_size": str(args.block_size - int(METHODS[method]["num_virtual_tokens"]))}
                       if method == "prompt" else data_args)
        if not (run / "run.json").exists():  # finished methods are kept (rerun to add the others)
            finetune_run(base, data, method=method.split("-")[0], overrides=METHODS[method], out=run, steps=args.steps,
                         batch_size=args.batch_size, lr=LR.get(method, 1e-2), data_args=method_args, overwrite=True,
                         progress=False, sample_every=0)
        info = json.loads((run / "run.json").read_text())
        rows.append((method, info["trainable_parameters"], None, eval_run(run, data, data_args=method_args)["nll"]))
    full = next((nll for m, _, _, nll in rows if m == "full"), None)
    lines = [f"| method | trainable params | share | held-out NLL (nats/char) | vs full |", "|---|---|---|---|---|"]
    for method, trainable, _, nll in rows:
        rel = f"{100 * (nll / full - 1):+.1f} %" if full else ""
        lines.append(f"| {method} | {trainable:,} | {100 * trainable / total:.2f} % | {nll:.4f} | {rel} |")
    table = "\n".join(lines)
    (out / "table.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
