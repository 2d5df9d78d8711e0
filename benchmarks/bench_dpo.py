"""DPO training speed: genzoo vs TRL's DPOTrainer, same run, same weights, same batch of pairs.

Both sides train the same random GPT-2 (``--shape 124M``: 12 layers, 12 heads, 768 wide, vocab 50257;
``--shape small`` for a quick look), saved once as a transformers directory with a word-level
tokenizer built here (nothing downloaded), on the same ``--batch`` preference pairs (TRL's JSONL
layout: a ``--prompt``-token prompt, ``--completion``-token chosen and rejected completions, EOS
included), with

- LoRA r=8, alpha 16, dropout 0 on every ``c_attn``, ``c_proj`` and ``c_fc`` (genzoo's CLI default
  ``target_modules=all-linear`` — every linear layer but the LM head — is that set; TRL gets the list
  through PEFT's ``LoraConfig``); the trainable counts are checked equal;
- DPO's sigmoid loss, beta=0.1; the reference is the base with the adapter disabled on both sides and
  is computed every step (``precompute_ref`` off on both: a second, no-grad forward per step);
- AdamW (torch's ``adamw_torch`` in TRL), lr 1e-4, no weight decay, gradients clipped at norm 1.0;
- float32 on both sides. TRL's ``DPOConfig`` defaults to ``bf16=True`` (bf16 autocast, on a CPU too),
  genzoo's Trainer to float32: ``bf16=False`` is set for TRL; ``--bf16`` runs both under bf16 autocast.

genzoo's step is what ``genzoo finetune BASE --method dpo --data prefs.jsonl`` runs (``gz.load``,
``load_prefs``, ``PreferenceObjective`` and the adapter options of ``prefs_run``, in the one Trainer);
TRL's is ``DPOTrainer.train()`` with ``max_steps``. Neither writes checkpoints. Each side runs in its
own subprocess (so peak RSS is its own); a step is the time between two end-of-step callbacks, the
first (warm-up) step is left out, the two alternate for ``--rounds`` rounds, and the report gives the
median seconds per step over every timed step, the steps/s ratio genzoo/TRL and the peak RSS.

Before any figure is trusted the first step's DPO loss and mean rewards beta*log(pi/pi_ref) of both
sides must agree (``--tol``): for that every LoRA A and B matrix is filled with the same seeded values
on both sides (a fresh LoRA has B = 0, so the policy equals the reference and every loss is ln 2).

    python benchmarks/bench_dpo.py                      # the GPT-2 124M shape (minutes)
    python benchmarks/bench_dpo.py --shape small        # a first look
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

from speed_table import print_speed_table

SHAPES = {
    "124M": dict(n_layer=12, n_head=12, n_embd=768, vocab_size=50257, n_positions=1024),
    "small": dict(n_layer=4, n_head=4, n_embd=256, vocab_size=8192, n_positions=512),
}
TARGETS = ["c_attn", "c_proj", "c_fc"]
EOS, PAD, UNK = "<|endoftext|>", "<pad>", "<|unk|>"
BETA, LR, R, ALPHA = 0.1, 1e-4, 8, 16
LORA_NAME = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<which>[AB])\.default(?:\.weight)?$")


# ----------------------------------------------------------------------------- the shared base and pairs
def make_base(path: Path, shape: dict, args) -> None:
    """A random GPT-2 and a word-level tokenizer (``<|endoftext|>``=0, ``<pad>``=1, ``<|unk|>``=2, words
    ``w3``...) as a transformers directory, and ``prefs.jsonl`` with ``args.batch`` pairs of random words."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    torch.manual_seed(0)
    config = GPT2Config(**shape, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
    GPT2LMHeadModel(config).save_pretrained(path)
    vocab = {EOS: 0, PAD: 1, UNK: 2, **{f"w{i}": i for i in range(3, shape["vocab_size"])}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens([EOS, PAD, UNK])
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=PAD, unk_token=UNK).save_pretrained(path)
    g = torch.Generator().manual_seed(1)

    def words(n: int) -> str:
        return " ".join(f"w{i}" for i in torch.randint(3, shape["vocab_size"], (n,), generator=g).tolist())

    with open(path / "prefs.jsonl", "w") as f:  # completions: n-1 words + EOS (added by both libraries)
        for _ in range(args.batch):
            row = {"prompt": words(args.prompt), "chosen": " " + words(args.completion - 1),
                   "rejected": " " + words(args.completion - 1)}
            f.write(json.dumps(row) + "\n")


def fill_lora(named_parameters) -> int:
    """Overwrite every LoRA A/B matrix with values seeded by its module's name (the same on both sides);
    returns how many matrices were filled."""
    import torch

    n = 0
    for name, p in named_parameters:
        m = LORA_NAME.match(name)
        if m is None:
            continue
        g = torch.Generator().manual_seed(zlib.crc32(f"{m['module']}.{m['which']}".encode()))
        with torch.no_grad():
            p.copy_((torch.rand(p.shape, generator=g) - 0.5) * 0.1)
        n += 1
    return n


# ----------------------------------------------------------------------------- one side, in a subprocess
def run_genzoo(base: Path, steps: int, batch: int, bf16: bool) -> dict:
    import torch

    import genzoo as gz
    from genzoo.finetune.dpo import PreferenceConfig, PreferenceObjective
    from genzoo.finetune.prefs_data import load_prefs
    from genzoo.finetune.prefs_run import adapter_options

    model = gz.load(base)
    data = load_prefs(base / "prefs.jsonl", model)  # as `genzoo finetune --method dpo` reads it
    ticks, first = [], {}

    def clock(trainer, step, logs):
        ticks.append(time.perf_counter())
        if step == 1:
            first.update(loss=logs["loss"], reward_chosen=logs["reward_chosen"], reward_rejected=logs["reward_rejected"])

    torch.manual_seed(0)
    trainer = gz.Trainer(model, data, steps=1 + steps, batch_size=batch, lr=LR, seed=0, progress=False, sample_every=0,
                         adapter=adapter_options({}), ema_decay=None, grad_clip=1.0, weight_decay=0.0, bf16=bf16,
                         objective=PreferenceObjective(PreferenceConfig(loss="dpo", beta=BETA)), callbacks=[clock])
    filled = fill_lora(model.named_parameters())
    trainer.fit()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return dict(first, ticks=ticks, trainable=trainable, lora_matrices=filled, tokens=list(data.batch(torch.arange(1))
                                                                                        ["chosen_ids"].shape))


def run_trl(base: Path, steps: int, batch: int, bf16: bool) -> dict:
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import GPT2LMHeadModel, PreTrainedTokenizerFast, TrainerCallback
    from trl import DPOConfig, DPOTrainer

    model = GPT2LMHeadModel.from_pretrained(base)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(base)
    rows = [json.loads(line) for line in open(base / "prefs.jsonl")]
    dataset = Dataset.from_dict({k: [r[k] for r in rows] for k in ("prompt", "chosen", "rejected")})
    ticks, first, shapes = [], {}, []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            ticks.append(time.perf_counter())

    class Recording(DPOTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            if not first:
                m = self._metrics["train"]
                first.update(loss=float(loss.detach()), reward_chosen=m["rewards/chosen"][-1],
                             reward_rejected=m["rewards/rejected"][-1])
                shapes.extend(inputs["input_ids"].shape)
            return loss

    out = tempfile.mkdtemp(prefix="bench_dpo_trl_")
    args = DPOConfig(output_dir=out, per_device_train_batch_size=batch, max_steps=1 + steps, learning_rate=LR, beta=BETA,
                     loss_type=["sigmoid"], precompute_ref_log_probs=False, optim="adamw_torch", weight_decay=0.0,
                     max_grad_norm=1.0, logging_steps=10**6, save_strategy="no", report_to="none", use_cpu=True,
                     disable_tqdm=True, dataloader_num_workers=0, seed=0, bf16=bf16)
    peft = LoraConfig(r=R, lora_alpha=ALPHA, lora_dropout=0.0, target_modules=TARGETS, fan_in_fan_out=True)
    trainer = Recording(model=model, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=peft,
                        callbacks=[Clock()])
    filled = fill_lora(trainer.model.named_parameters())
    trainer.train()
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    # the chosen rows' shape: TRL stacks chosen then rejected rows
    return dict(first, ticks=ticks, trainable=trainable, lora_matrices=filled, tokens=[1, shapes[1]])


def worker(lib: str, base: Path, steps: int, batch: int, threads: int, bf16: bool) -> None:
    import resource

    import torch

    if threads:
        torch.set_num_threads(threads)
    out = (run_genzoo if lib == "genzoo" else run_trl)(base, steps, batch, bf16)
    ticks = out.pop("ticks")
    out.update(lib=lib, s_per_step=[b - a for a, b in zip(ticks, ticks[1:])],
               peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out))


# ----------------------------------------------------------------------------- the driver
def run(lib: str, base: Path, args) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_VERBOSITY="error",
               TOKENIZERS_PARALLELISM="false")
    cmd = [sys.executable, __file__, "--worker", lib, "--base", str(base), "--steps", str(args.steps),
           "--batch", str(args.batch), "--threads", str(args.threads)] + ["--bf16"] * args.bf16
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if out.returncode:
        tail = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit code {out.returncode}"
        raise SystemExit(f"{lib} worker failed: {tail}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def check_same(a: dict, b: dict, tol: float) -> None:
    """The first step computes the same DPO loss and rewards on the same sequences, or the run stops."""
    print(f"first step: loss genzoo {a['loss']:.6f} TRL {b['loss']:.6f} (ln 2 = {math.log(2):.6f}); "
          f"rewards chosen {a['reward_chosen']:.5f} / {b['reward_chosen']:.5f}, "
          f"rejected {a['reward_rejected']:.5f} / {b['reward_rejected']:.5f}; sequences {a['tokens']} / {b['tokens']}; "
          f"trainable {a['trainable']} / {b['trainable']} in {a['lora_matrices']} / {b['lora_matrices']} LoRA matrices",
          flush=True)
    problems = [k for k in ("loss", "reward_chosen", "reward_rejected") if abs(a[k] - b[k]) > tol]
    problems += [k for k in ("trainable", "lora_matrices", "tokens") if a[k] != b[k]]
    if problems:
        raise SystemExit(f"genzoo and TRL differ on {', '.join(problems)}; the speed figures would not compare the same work")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="124M", choices=list(SHAPES))
    ap.add_argument("--prompt", type=int, default=64, help="prompt tokens")
    ap.add_argument("--completion", type=int, default=64, help="completion tokens, EOS included")
    ap.add_argument("--batch", type=int, default=4, help="preference pairs per step")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per process (after one warm-up step)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch threads per worker (0: torch's default)")
    ap.add_argument("--bf16", action="store_true", help="both sides under bf16 autocast (TRL's default precision)")
    ap.add_argument("--tol", type=float, default=None,
                    help="largest first-step loss/reward difference accepted (default 1e-4; 1e-2 with --bf16)")
    ap.add_argument("--worker", choices=["genzoo", "trl"], help=argparse.SUPPRESS)
    ap.add_argument("--base", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.base, args.steps, args.batch, args.threads, args.bf16)
    results: dict[str, list[dict]] = {"genzoo": [], "trl": []}
    with tempfile.TemporaryDirectory(prefix="bench_dpo_") as tmp:
        base = Path(tmp) / "base"
        make_base(base, SHAPES[args.shape], args)
        for r in range(args.rounds):
            for lib in (("genzoo", "trl") if r % 2 == 0 else ("trl", "genzoo")):  # alternate the order
                results[lib].append(run(lib, base, args))
                shown = {k: [round(t, 3) for t in v] if k == "s_per_step" else round(v, 6) if isinstance(v, float) else v
                         for k, v in results[lib][-1].items()}
                print(json.dumps(shown), flush=True)
            if r == 0:
                check_same(results["genzoo"][0], results["trl"][0], args.tol or (1e-2 if args.bf16 else 1e-4))
    s = {lib: statistics.median(t for x in rs for t in x["s_per_step"]) for lib, rs in results.items()}
    mem = {lib: max(x["peak_rss_mb"] for x in rs) for lib, rs in results.items()}
    print(f"\nshape {args.shape}, {args.batch} pairs of prompt {args.prompt} + completion {args.completion} tokens, "
          f"LoRA r={R} alpha={ALPHA} on {'/'.join(TARGETS)}, DPO beta={BETA}, reference = adapters disabled, "
          f"AdamW lr={LR}, {'bf16 autocast' if args.bf16 else 'float32'}; {args.rounds} rounds x {args.steps} timed steps; load average {os.getloadavg()[0]:.1f}")
    ratios = []
    for r in range(args.rounds):
        g, t = (statistics.median(results[lib][r]["s_per_step"]) for lib in ("genzoo", "trl"))
        ratios.append(t / g)
        print(f"round {r + 1}: genzoo {g:.3f} s/step, TRL {t:.3f} s/step, ratio {t / g:.2f}x")
    print(f"median of the per-round ratios (steadier than the pooled one when the load drifts): {statistics.median(ratios):.2f}x")
    print_speed_table(s, mem, {lib: rs[0]["trainable"] for lib, rs in results.items()}, "trl", "TRL")


if __name__ == "__main__":
    main()
