"""Text-overlap scores of generated summaries against references: BLEU, chrF (sacrebleu) and ROUGE-L (rouge-score).

- BLEU (Papineni et al., 2002): corpus-level, geometric mean of 1–4-gram precisions × brevity penalty,
  sacrebleu's default ``13a`` tokenisation;
- chrF (Popović, 2015): corpus-level character 6-gram F-score (β = 2);
- ROUGE-L (Lin, 2004): F1 of the longest common subsequence of words, averaged over pairs (stemmed).
All three are reported on 0–100. The registered metrics ``bleu``/``chrf``/``rouge-l`` (one function:
it decodes once) decode a seq2seq set's sources greedily (or with ``num_beams``) and score the outputs
against its targets.
"""
from __future__ import annotations

from typing import Any

import torch

from ..errors import ConfigError
from ..registry import register_metric


def summary_scores(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """``{"bleu", "chrf", "rouge_l"}`` of ``hypotheses`` against one reference each."""
    if len(hypotheses) != len(references) or not references:
        raise ConfigError(f"need one hypothesis per reference, got {len(hypotheses)} and {len(references)}")
    try:
        import sacrebleu
        from rouge_score import rouge_scorer
    except ImportError as e:
        raise ConfigError(f"summary scores need sacrebleu and rouge-score ({e.name} is missing): "
                          "pip install 'genzoo[seq2seq]'") from None
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rouge = sum(scorer.score(r, h)["rougeL"].fmeasure for h, r in zip(hypotheses, references)) / len(references)
    return {"bleu": sacrebleu.corpus_bleu(hypotheses, [references]).score,
            "chrf": sacrebleu.corpus_chrf(hypotheses, [references]).score, "rouge_l": 100.0 * rouge}


def seq2seq_predictions(model, data, *, batch_size: int = 64, max_examples: int | None = None,
                        **generate_kw: Any) -> tuple[list[str], list[str]]:
    """(generated summaries, reference targets) for a seq2seq set's packed rows, decoded by ``model.generate``."""
    tok = model.tokenizer or data.tokenizer
    n = len(data) if max_examples is None else min(len(data), max_examples)
    S, pad, eos = data.info["max_source_length"], data.info["pad_token_id"], data.info["eos_token_id"]
    device = next(model.parameters()).device
    hyps, refs = [], []
    for start in range(0, n, batch_size):
        x = data.x[start:start + batch_size]
        src, tgt = x[:, :S], x[:, S:]
        width = max(1, int((src != pad).sum(1).max()))
        src = src[:, :width].to(device)
        out = model.generate(src, (src != pad).long(), **{"max_new_tokens": x.shape[1] - S, **generate_kw})
        for row, ref in zip(out[:, 1:].tolist(), tgt.tolist()):
            hyps.append(tok.decode(_until(row, eos), skip_special_tokens=True).strip())
            refs.append(tok.decode(_until(ref, eos), skip_special_tokens=True).strip())
    return hyps, refs


def _until(ids: list[int], eos: int) -> list[int]:
    return ids[:ids.index(eos)] if eos in ids else ids


def summarization_metrics(model, data, *, batch_size: int = 64, max_examples: int | None = None,
                          num_beams: int = 1, **_: Any) -> dict[str, float]:
    if data.kind != "seq2seq" or not hasattr(model, "encode"):
        raise ConfigError("bleu/chrf/rouge-l score an encoder–decoder (t5) on a seq2seq set such as pystdlib-summaries")
    with torch.no_grad():
        hyps, refs = seq2seq_predictions(model, data, batch_size=batch_size, max_examples=max_examples, num_beams=num_beams)
    scores = summary_scores(hyps, refs)
    return {"bleu": scores["bleu"], "chrf": scores["chrf"], "rouge-l": scores["rouge_l"]}


for _name in ("bleu", "chrf", "rouge-l"):
    register_metric(_name)(summarization_metrics)
