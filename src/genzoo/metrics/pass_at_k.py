"""``pass@k`` of a causal language model on HumanEval (Chen et al. 2021).

For each problem the model continues the prompt ``samples_per_task`` times (temperature sampling,
top-p), each completion is cut at Codex's stop sequences (a new top-level statement) and run with
the problem's tests in the sandbox; pass@k is the unbiased estimator of ``genzoo.code.passk``.
``samples_per_task`` (``genzoo eval -n``) must be at least the largest k reported.
"""
from __future__ import annotations

import torch

from ..errors import ConfigError, DataError
from ..registry import register_metric

KS = (1, 10, 100)


def complete(model, prompt: str, n: int, *, temperature: float, top_p: float, max_new_tokens: int,
             generator: torch.Generator | None) -> list[str]:
    """``n`` sampled continuations of ``prompt`` (its last tokens when it overflows the context)."""
    from ..code.humaneval import STOP_SEQUENCES, truncate_at_stop

    tok = model.tokenizer
    context = model.config.block_size
    new = min(max_new_tokens, context // 2)
    ids = tok.encode(prompt)[-(context - new):]
    x = torch.tensor([ids], dtype=torch.long)
    out = model.generate(x, max_new_tokens=new, do_sample=temperature > 0, temperature=max(temperature, 1e-5),
                         top_p=top_p, num_return_sequences=n, generator=generator, stop_strings=STOP_SEQUENCES,
                         tokenizer=tok, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    texts = []
    for row in out[:, x.shape[1]:].tolist():
        if tok.eos_token_id in row:
            row = row[: row.index(tok.eos_token_id)]
        texts.append(truncate_at_stop(tok.decode(row)))
    return texts


def pass_at_k_metric(model, data, *, samples_per_task: int = 20, temperature: float = 0.8, top_p: float = 0.95,
                     max_new_tokens: int = 256, generator: torch.Generator | None = None, max_examples: int | None = None,
                     results_path=None, workers: int | None = None, **_) -> dict[str, float]:
    """pass@k (k <= ``samples_per_task``) of ``model`` on the ``humaneval`` problems of ``data``."""
    from ..code.humaneval import evaluate_samples, write_jsonl

    problems = data.info.get("problems") if getattr(data, "info", None) else None
    if problems is None:
        raise DataError(f"pass@k runs the unit tests of a code benchmark; use --data humaneval, not {data.name!r}")
    if torch.is_tensor(model) or not hasattr(model, "generate") or getattr(model, "tokenizer", None) is None:
        raise ConfigError("pass@k needs a causal language model saved with its tokenizer (a genzoo GPT run or a "
                          "transformers GPT-2 directory), or --samples FILE.jsonl with completions")
    if samples_per_task < 1:
        raise ConfigError(f"-n (samples per problem) must be >= 1, got {samples_per_task}")
    from ..training.logging import progress_bar

    model.eval()
    samples = []
    chosen = problems[:max_examples]
    bar = progress_bar(len(chosen), 0, True, desc="humaneval")
    for problem in chosen:
        with torch.inference_mode():
            texts = complete(model, problem["prompt"], samples_per_task, temperature=temperature, top_p=top_p,
                             max_new_tokens=max_new_tokens, generator=generator)
        samples += [{"task_id": problem["task_id"], "completion": t} for t in texts]
        bar.update(1)
    bar.close()
    scores, results = evaluate_samples(samples, ks=[k for k in KS if k <= samples_per_task], workers=workers)
    if results_path is not None:
        write_jsonl(results_path, results)
    return scores


for _k in KS:
    register_metric(f"pass@{_k}")(pass_at_k_metric)
