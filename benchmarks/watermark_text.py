"""Issue 25 must-show for the KGW text watermark (``genzoo.safety``), on a small char GPT.

N prompts (16 chars from the pystdlib test split) are continued by 200 sampled tokens, once with the
watermark (key, γ, δ) and once without; every text is scored by ``detect`` (its 200 new tokens,
repeated bigrams counted once). Reported: TPR at the empirical FPR ≤ 1 % threshold and at z ≥ 4,
after 0/10/20/30 % random token substitutions (uniform over the vocabulary, positions drawn without
replacement), and at the theoretical 1 % cut z ≥ 2.33; the perplexity of the same texts under a second model trained with another seed
(unwatermarked) and under the generator itself, the fraction of repeated bigrams, and ROC curves.
Writes benchmarks/results/watermark_text_d{δ}.json and watermark_roc_d{δ}.png (the tables in
benchmarks/results/safety.md are copied from them).

    python benchmarks/watermark_text.py --gen runs/gen --judge runs/judge --n 200
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

import genzoo as gz
from genzoo.safety import WatermarkConfig, WatermarkLogitsProcessor, detect

RESULTS = Path(__file__).parent / "results"
Z_1PCT = 2.3263  # Φ^{-1}(0.99): the z whose one-sided p-value is 1 % under H0


def substitute(ids: torch.Tensor, frac: float, vocab: int, g: torch.Generator) -> torch.Tensor:
    """Replace round(frac·T) random positions with uniform random tokens (an attacker without the key)."""
    out = ids.clone()
    k = round(frac * len(ids))
    pos = torch.randperm(len(ids), generator=g)[:k]
    out[pos] = torch.randint(0, vocab, (k,), generator=g)
    return out


def roc(neg: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) over every threshold z ≥ t."""
    ts = np.unique(np.concatenate([neg, pos, [np.inf]]))[::-1]
    return np.array([(neg >= t).mean() for t in ts]), np.array([(pos >= t).mean() for t in ts])


def tpr_at_fpr(neg: np.ndarray, pos: np.ndarray, fpr: float = 0.01) -> tuple[float, float]:
    """TPR at the lowest threshold whose empirical FPR ≤ ``fpr``; returns (TPR, threshold)."""
    t = np.sort(neg)[::-1][int(math.floor(fpr * len(neg)))] + 1e-9  # strictly above the allowed negatives
    return float((pos >= t).mean()), float(t)


@torch.no_grad()
def perplexity(judge, prompts: torch.Tensor, texts: torch.Tensor) -> float:
    ids = torch.cat([prompts, texts], 1)
    logits = judge(ids[:, :-1]).float()[:, prompts.shape[1] - 1:]
    nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), texts.reshape(-1))
    return float(nll.exp())


def repeated_bigrams(texts: torch.Tensor) -> float:
    """Mean fraction of a text's bigrams that repeat an earlier one (what ``ignore_repeated_ngrams`` drops)."""
    fr = [1 - len(set(zip(t[:-1], t[1:]))) / (len(t) - 1) for t in texts.tolist()]
    return float(np.mean(fr))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen", required=True)
    ap.add_argument("--judge", required=True)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--tokens", type=int, default=200)
    ap.add_argument("--key", type=int, default=15485863)
    ap.add_argument("--gamma", type=float, default=0.25)
    ap.add_argument("--delta", type=float, default=2.0)
    ap.add_argument("--batch", type=int, default=50)
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()
    gen, judge = gz.load(args.gen).eval(), gz.load(args.judge).eval()
    V = gen.config.vocab_size
    test = gz.load_dataset("pystdlib", split="test", tokenizer="char", block_size=256)
    rows = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[: args.n]
    prompts = test.x[rows, :16].long()
    cfg = WatermarkConfig(key=args.key, gamma=args.gamma, delta=args.delta)
    texts = {}
    for name, procs in (("watermarked", [WatermarkLogitsProcessor(cfg, V)]), ("plain", [])):
        outs = []
        for i in range(0, args.n, args.batch):
            g = torch.Generator().manual_seed(1000 + i)
            out = gen.generate(prompts[i:i + args.batch], max_new_tokens=args.tokens, do_sample=True,
                               eos_token_id=None, generator=g, logits_processor=procs)
            outs.append(out[:, 16:])
        texts[name] = torch.cat(outs)
    t_gen = time.time() - t0
    g = torch.Generator().manual_seed(7)
    res: dict = {"n_each": args.n, "tokens": args.tokens, "gamma": args.gamma, "delta": args.delta, "vocab": V,
                 "ppl_judge": {k: perplexity(judge, prompts, v) for k, v in texts.items()},
                 "ppl_generator": {k: perplexity(gen, prompts, v) for k, v in texts.items()},
                 "repeated_bigram_fraction": {k: repeated_bigrams(v) for k, v in texts.items()}, "attacks": {}}
    reference = test.x[rows, 16:16 + args.tokens].long()  # the real continuations (test split, unseen)
    res["ppl_judge"]["test_text"] = perplexity(judge, prompts, reference)
    curves = {}
    for frac in (0.0, 0.1, 0.2, 0.3):
        z = {k: np.array([detect(substitute(t, frac, V, g), cfg, V)["z"] for t in v]) for k, v in texts.items()}
        tpr, thr = tpr_at_fpr(z["plain"], z["watermarked"])
        res["attacks"][f"{int(frac * 100)}%"] = {
            "tpr_at_fpr_1pct": tpr, "threshold_z": thr, "tpr_at_z4": float((z["watermarked"] >= 4).mean()),
            "tpr_at_z2.33": float((z["watermarked"] >= Z_1PCT).mean()), "fpr_at_z2.33": float((z["plain"] >= Z_1PCT).mean()),
            "fpr_at_z4": float((z["plain"] >= 4).mean()), "median_z_watermarked": float(np.median(z["watermarked"])),
            "median_z_plain": float(np.median(z["plain"]))}
        curves[frac] = roc(z["plain"], z["watermarked"])
    res["seconds"] = {"generate": t_gen, "total": time.time() - t0}
    RESULTS.mkdir(exist_ok=True)
    tag = f"d{args.delta:g}"
    (RESULTS / f"watermark_text_{tag}.json").write_text(json.dumps(res, indent=1))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4))
    for frac, (fpr, tpr) in curves.items():
        ax.plot(fpr, tpr, label=f"{int(frac * 100)} % substituted", drawstyle="steps-post")
    ax.axvline(0.01, color="gray", ls=":", lw=0.8)
    ax.set(xscale="log", xlim=(1e-3, 1), ylim=(0, 1.02), xlabel="false positive rate", ylabel="true positive rate",
           title=f"KGW γ={args.gamma} δ={args.delta}, {args.tokens} tokens, n={args.n}+{args.n}")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / f"watermark_roc_{tag}.png", dpi=120)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
