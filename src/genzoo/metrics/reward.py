"""``reward``: the mean reward of a text model's sampled completions of held-out prompts.

The prompts are top-level functions of the pystdlib modules kept out of tuning
(``genzoo.finetune.prefs_make.held_out_module``: one module in ten, so ``prefs make``, DPO and
PPO/GRPO never see them): their ``def`` lines (or docstrings with ``>>>`` examples for ``doctest``).
``reward_prompts`` of them are drawn with a seeded generator, the model samples ``reward_k``
completions of each (temperature ``reward_temperature``), and the reward plug-in scores them
(``genzoo.finetune.rewards``; e.g. ``python-syntax``: the share that parses). A failing sample scores 0
and is counted. For an adapter (LoRA, DPO, PPO, GRPO runs) ``reward_kl`` is the mean of log π(y|x) − log π_ref(y|x)
over the samples, π_ref the base with the adapter disabled: a Monte Carlo estimate of KL(π ‖ π_ref) per
completion. ``genzoo eval RUN --data pystdlib --metrics reward --reward python-syntax``.
"""
from __future__ import annotations

import torch

from ..errors import ConfigError
from ..registry import register_metric


@register_metric("reward")
def reward_metric(model, data=None, *, reward: str = "python-syntax", reward_prompts: int = 64, reward_k: int = 4,
                  reward_temperature: float = 1.0, max_new_tokens: int = 64, seed: int = 0, num_samples: int | None = None,
                  **_) -> dict[str, float]:
    """``num_samples`` (``genzoo eval --num-samples N``): N completions in all, N // reward_k prompts."""
    from ..finetune.prefs_make import sample_completions, select_prompts
    from ..finetune.rewards import get_reward, score_completions

    if getattr(model, "tokenizer", None) is None or not hasattr(model, "generate"):
        raise ConfigError("the reward metric samples completions: it needs a text model saved with its tokenizer")
    if num_samples is not None:
        reward_prompts = max(1, num_samples // reward_k)
    reward_fn = get_reward(reward)
    generator = torch.Generator().manual_seed(seed)
    selected = select_prompts(model, reward, reward_prompts, max_new_tokens, generator, split="test")
    from ..training.logging import progress_bar

    from ..finetune.base import adapter_layers

    total, count, failed = 0.0, 0, 0
    adapted, kls = next(adapter_layers(model), None) is not None, []
    model.eval()
    bar = progress_bar(len(selected), 0, True, desc="reward")
    with torch.inference_mode():
        for (prompt, module), ids in selected:
            texts = sample_completions(model, ids, reward_k, generator, max_new_tokens=max_new_tokens,
                                 temperature=reward_temperature)
            scores = score_completions(reward_fn, [prompt] * reward_k, texts, reward, strict=False, modules=[module] * reward_k)
            total += float(scores.values.sum())
            count += reward_k
            failed += scores.failed
            if adapted:
                kls += kl_to_reference(model, ids, texts)
            bar.update(1)
    bar.close()
    out = {"reward_mean": total / count, "reward_samples": count, "reward_failures": failed}
    if adapted:
        out["reward_kl"] = sum(kls) / len(kls)
    return out


def kl_to_reference(model, prompt_ids: list[int], texts: list[str]) -> list[float]:
    """log π(y|x) − log π_ref(y|x) of each sampled completion y (re-encoded after the prompt x), π_ref the
    base with the adapters disabled: their mean over samples from π estimates KL(π ‖ π_ref) per prompt."""
    from ..finetune.dpo import completion_log_probs, reference_log_probs

    block = model.config.block_size
    rows = [(prompt_ids + model.tokenizer.encode(t))[:block] for t in texts]
    width = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r)
        mask[i, len(prompt_ids):len(r)] = 1.0
    return (completion_log_probs(model, ids, mask) - reference_log_probs(model, ids, mask)).tolist()
