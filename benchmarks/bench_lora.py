"""LoRA training speed and peak memory: genzoo vs PEFT + transformers, same run, same shapes.

The anchor is /work/shared/bench/anchors/peft_lora_step.py: the GPT-2 124M shape (random weights,
nothing downloaded), sequence 256, batch 4, LoRA r=8 (alpha 16) on ``c_attn``, AdamW on the adapter
only. Each side runs in its own subprocess (so peak RSS is its own), one warm-up step then ``--steps``
timed steps, and the two alternate for ``--rounds`` rounds; the report gives seconds per step
(median over rounds), steps/s ratio genzoo / PEFT, and peak RSS of each process.

genzoo's step is ``model.loss(x)`` (its training objective: the first token's p(x_0) plus 255
next-token terms); PEFT's is ``model(x, labels=x).loss`` (255 next-token terms): the same network work.

    python benchmarks/bench_lora.py                    # the anchor shape (minutes on a busy CPU)
    python benchmarks/bench_lora.py --shape small      # a first look
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from speed_table import print_speed_table

SHAPES = {
    "124M": dict(n_layer=12, n_head=12, n_embd=768, vocab_size=50257, n_positions=1024),
    "small": dict(n_layer=4, n_head=4, n_embd=256, vocab_size=8192, n_positions=512),
}

WORKER = r'''
import json, resource, sys, time
import torch
lib, shape, steps, seq, batch, threads = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
if threads:
    torch.set_num_threads(threads)
torch.manual_seed(0)
x = torch.randint(0, shape["vocab_size"], (batch, seq))
if lib == "peft":
    from peft import LoraConfig, get_peft_model
    from transformers import GPT2Config, GPT2LMHeadModel
    model = GPT2LMHeadModel(GPT2Config(**shape))
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["c_attn"], lora_dropout=0.0))
    loss_fn = lambda: model(x, labels=x).loss
else:
    from genzoo.finetune import LoraConfig, inject_adapter
    from genzoo.models.gpt import GPT, GPTConfig
    model = GPT(GPTConfig(vocab_size=shape["vocab_size"], block_size=shape["n_positions"], n_layer=shape["n_layer"],
                          n_head=shape["n_head"], n_embd=shape["n_embd"]))
    inject_adapter(model, LoraConfig(r=8, lora_alpha=16, target_modules=["c_attn"]))
    loss_fn = lambda: model.loss(x)["loss"]
model.train()
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=1e-4)
def step():
    loss = loss_fn()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
step()
times = []
for _ in range(steps):
    t = time.perf_counter(); step(); times.append(time.perf_counter() - t)
print(json.dumps({"lib": lib, "s_per_step": sorted(times)[len(times) // 2], "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "trainable": sum(p.numel() for p in params)}))
'''


def run(lib: str, args) -> dict:
    out = subprocess.run([sys.executable, "-c", WORKER, lib, json.dumps(SHAPES[args.shape]), str(args.steps), str(args.seq),
                          str(args.batch), str(args.threads)], capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"{lib} worker failed: {out.stderr.strip().splitlines()[-1]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="124M", choices=list(SHAPES))
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch threads per worker (0: torch's default)")
    args = ap.parse_args()
    results: dict[str, list[dict]] = {"genzoo": [], "peft": []}
    for r in range(args.rounds):
        for lib in (("genzoo", "peft") if r % 2 == 0 else ("peft", "genzoo")):  # alternate the order
            results[lib].append(run(lib, args))
            print(json.dumps(results[lib][-1]), flush=True)
    s = {lib: statistics.median(x["s_per_step"] for x in rs) for lib, rs in results.items()}
    mem = {lib: max(x["peak_rss_mb"] for x in rs) for lib, rs in results.items()}
    print(f"\nshape {args.shape}, seq {args.seq}, batch {args.batch}, LoRA r=8 on c_attn; {args.rounds} rounds x {args.steps} steps")
    print_speed_table(s, mem, {lib: rs[0]["trainable"] for lib, rs in results.items()}, "peft", "PEFT")


if __name__ == "__main__":
    main()
