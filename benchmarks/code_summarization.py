"""Code summarisation on the standard library: T5 vs a decoder-only GPT of equal size vs copying the name.

    PYTHONPATH=src python benchmarks/code_summarization.py --out benchmarks/results/code_summarization

Data: ``pystdlib-summaries`` (function source without its docstring -> first docstring line; split by
top-level module; 256 source / 64 target characters, one character vocabulary). Both models train with
the same budget (steps x batch x lr, AdamW, cosine schedule) on the train split:

- ``t5``: the registered encoder–decoder with its ``seq2seq`` kind defaults (d_model 64, 2 + 2 layers);
- ``gpt``: a GPT (4 layers, n_embd 64, MLP 256: about the same parameter count) on rows
  ``source <pad> summary EOS`` (the ``<pad>`` id is the separator), trained on the summary part only
  (the same conditional likelihood as T5's), decoding greedily after the separator;
- ``copy-name``: ``foo_bar`` -> "Return the foo bar." (no training).

Scores on the test split: BLEU and chrF (sacrebleu), ROUGE-L F1 (rouge-score), greedy decoding; T5 also
with beam search (4 beams). Writes ``results.json`` and ``results.md`` into ``--out``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import genzoo as gz
from genzoo.data.base import GenDataset
from genzoo.metrics.summarization import seq2seq_predictions, summary_scores
from genzoo.models.gpt import GPT, GPTConfig


def gpt_rows(data, source_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Packed pairs -> GPT rows ``source <pad> target`` (right-padded) and the mask of the target part."""
    pad = data.info["pad_token_id"]
    x = data.x
    rows = torch.full((len(x), x.shape[1] + 1), pad, dtype=torch.long)
    mask = torch.zeros_like(rows)
    for i, r in enumerate(x):
        src, tgt = r[:source_length], r[source_length:]
        src, tgt = src[src != pad], tgt[tgt != pad]
        n = len(src)
        rows[i, :n] = src
        rows[i, n + 1:n + 1 + len(tgt)] = tgt
        mask[i, n + 1:n + 1 + len(tgt)] = 1
    return rows, mask


def summary_objective(model, batch) -> dict:
    """Mean NLL of the target tokens (after the separator) of GPT rows; the batch's padding columns dropped."""
    x, mask = batch
    width = int((mask.cumsum(1) * mask).argmax(1).max()) + 1
    x, mask = x[:, :width], mask[:, :width].float()
    lp = model.token_log_probs(x)
    return {"loss": -(lp * mask).sum() / mask.sum()}


@torch.no_grad()
def gpt_predictions(model, data, source_length: int, batch_size: int = 64) -> list[str]:
    tok, pad, eos = data.tokenizer, data.info["pad_token_id"], data.info["eos_token_id"]
    out = []
    for start in range(0, len(data), batch_size):
        x = data.x[start:start + batch_size]
        prompts = [r[:source_length][r[:source_length] != pad].tolist() + [pad] for r in x]
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        attn = torch.zeros_like(ids)
        for i, p in enumerate(prompts):  # left padding
            ids[i, width - len(p):], attn[i, width - len(p):] = torch.tensor(p), 1
        gen = model.generate(ids, attn, max_new_tokens=data.x.shape[1] - source_length, eos_token_id=eos, pad_token_id=pad)
        for row in gen[:, width:].tolist():
            row = row[:row.index(eos)] if eos in row else row
            out.append(tok.decode(row, skip_special_tokens=True).strip())
    return out


def copy_name(name: str) -> str:
    words = [w for w in name.strip("_").split("_") if w]
    return "Return the " + " ".join(words) + "." if words else "Return the value."


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--max-test", type=int, default=None, help="score only the first N test pairs")
    ap.add_argument("--models", default="t5,gpt,copy-name", help="which of t5, gpt, copy-name to run")
    ap.add_argument("--t5-from", type=Path, default=None, help="score a t5 run trained earlier (its --out/t5) instead of training")
    ap.add_argument("--merge", type=Path, nargs="+", default=None, help="only merge results.json files of runs with other --models")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: on a shared 2-core machine two threads "
                    "spin-wait; one is ~15x cheaper in CPU time)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.merge:
        parts = [json.loads(f.read_text()) for f in args.merge]
        return write(args.out, parts[0]["meta"], {k: v for part in parts for k, v in part["results"].items()})
    torch.manual_seed(0)
    train, test = gz.load_dataset("pystdlib-summaries", "train"), gz.load_dataset("pystdlib-summaries", "test")
    if args.max_test:
        test = GenDataset(test.name, "test", test.kind, test.x[:args.max_test], tokenizer=test.tokenizer,
                          info={**test.info, "pairs": test.info["pairs"][:args.max_test]})
    S = train.info["max_source_length"]
    refs = [p["summary"] for p in test.info["pairs"]]
    budget = dict(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=0, ema_decay=None, progress=False)
    results: dict[str, dict] = {}

    models = set(args.models.split(","))
    if "t5" in models:
        t0 = time.process_time()
        if args.t5_from is not None:
            t5, t5_cpu = gz.load(args.t5_from), None
        else:
            t5 = gz.build("t5", data=train)
            gz.Trainer(t5, train, out=args.out / "t5", **budget).fit()
            t5_cpu = time.process_time() - t0
        t5_wall = last_elapsed(args.t5_from or args.out / "t5")
        t5.eval()
        nll = gz.evaluate(t5, test, ["nll"])["nll"]
        for name, kw in (("t5 (greedy)", {}), ("t5 (beam 4)", {"num_beams": 4})):
            t0 = time.process_time()
            hyps, _ = seq2seq_predictions(t5, test, **kw)
            results[name] = {**summary_scores(hyps, refs), "params": sum(p.numel() for p in t5.parameters()),
                             "train_cpu_s": t5_cpu, "train_wall_s": t5_wall, "decode_cpu_s": time.process_time() - t0, "test_nll_per_token": nll,
                             "examples": hyps[:5]}

    if "gpt" in models:
        rows, mask = gpt_rows(train, S)
        gdata = GenDataset("pystdlib-summaries (gpt rows)", "train", "text", rows, mask, tokenizer=train.tokenizer)
        gpt = GPT(GPTConfig(vocab_size=train.vocab_size, block_size=rows.shape[1], n_layer=4, n_head=4, n_embd=64, n_inner=256))
        t0 = time.process_time()
        gz.Trainer(gpt, gdata, out=args.out / "gpt", objective=summary_objective, **budget).fit()
        gpt_cpu = time.process_time() - t0
        gpt.eval()
        trows, tmask = gpt_rows(test, S)
        with torch.no_grad():
            gnll = sum(-(gpt.token_log_probs(trows[i:i + 64]) * tmask[i:i + 64]).sum().item() for i in range(0, len(trows), 64))
        t0 = time.process_time()
        hyps = gpt_predictions(gpt, test, S)
        results["gpt (greedy)"] = {**summary_scores(hyps, refs), "params": sum(p.numel() for p in gpt.parameters()),
                                   "train_cpu_s": gpt_cpu, "train_wall_s": last_elapsed(args.out / "gpt"), "decode_cpu_s": time.process_time() - t0,
                                   "test_nll_per_token": gnll / tmask.sum().item(), "examples": hyps[:5]}

    if "copy-name" in models:
        hyps = [copy_name(p["name"]) for p in test.info["pairs"]]
        results["copy-name baseline"] = {**summary_scores(hyps, refs), "params": 0, "examples": hyps[:5]}

    meta = {"budget": {k: budget[k] for k in ("steps", "batch_size", "lr")}, "train_pairs": len(train),
            "test_pairs": len(test), "test_modules": test.info["modules"], "references": refs[:5],
            "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu_s_total": time.process_time()}
    write(args.out, meta, results)


def last_elapsed(run: Path) -> float | None:
    """Training wall-clock seconds from a run's metrics.jsonl (the Trainer's ``elapsed``)."""
    lines = (run / "metrics.jsonl").read_text().splitlines() if (run / "metrics.jsonl").is_file() else []
    return json.loads(lines[-1]).get("elapsed") if lines else None


def write(out: Path, meta: dict, results: dict) -> None:
    (out / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    b = meta["budget"]
    lines = [f"Budget per model: {b['steps']} steps x batch {b['batch_size']}, lr {b['lr']} (AdamW, cosine), "
             f"{meta['threads']} thread(s); {meta['train_pairs']} train pairs, {meta['test_pairs']} test pairs "
             f"({len(meta['test_modules'])} held-out modules).", "",
             "| model | params | BLEU | chrF | ROUGE-L | test NLL/token | train CPU-s | train wall-s |",
             "|---|---|---|---|---|---|---|---|"]
    fmt = lambda r, k, f: f.format(r[k]) if r.get(k) is not None else "—"  # noqa: E731
    for name, r in results.items():
        lines.append(f"| {name} | {r['params']:,} | {r['bleu']:.2f} | {r['chrf']:.2f} | {r['rouge_l']:.2f} | "
                     f"{fmt(r, 'test_nll_per_token', '{:.3f}')} | {fmt(r, 'train_cpu_s', '{:.0f}')} | {fmt(r, 'train_wall_s', '{:.0f}')} |")
    lines += ["", "First test references and outputs:", ""]
    for i, ref in enumerate(meta["references"]):
        lines.append(f"- ref: {ref!r}")
        lines += [f"  - {name}: {r['examples'][i]!r}" for name, r in results.items()]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
