"""Online sampling shared by PPO and GRPO (``ppo.py``, ``grpo.py``): a batch of prompts, G sampled
completions each, their rewards, and per-token log-probabilities in completion coordinates.

A rollout holds B = prompts × G right-padded rows ``prompt ⊕ completion`` (a completion runs up to and
including its first EOS, or ``max_new_tokens`` tokens). Everything the RL losses see is (B, L) in
completion coordinates, column j the j-th completion token, with ``mask`` 1 on real tokens, as TRL's
trainers lay it out: ``logps[i, j] = log π(y_ij | x_i, y_i,<j)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..data.smiles import decode_rows, molecule_format
from .dpo import under_reference
from .rewards import score_completions


@dataclass
class Rollout:
    ids: Tensor          # (B, T) prompt ⊕ completion, right-padded
    positions: Tensor    # (B, L) index in ``ids`` of completion token j (clamped into the row for padding)
    mask: Tensor         # (B, L) float, 1 on real completion tokens
    prompts: list[str]
    completions: list[str]
    columns: dict[str, list[Any]] = field(default_factory=dict)  # per-sample data for the reward (modules)
    rewards: Tensor | None = None
    failed: int = 0
    first_error: str | None = None

    def __len__(self) -> int:
        return self.ids.shape[0]

    def select(self, rows: Tensor) -> "Rollout":
        """The rows ``rows`` (a minibatch); text columns follow."""
        idx = rows.tolist()
        return Rollout(self.ids[rows], self.positions[rows], self.mask[rows], [self.prompts[i] for i in idx],
                       [self.completions[i] for i in idx], {k: [v[i] for i in idx] for k, v in self.columns.items()},
                       None if self.rewards is None else self.rewards[rows])


@torch.no_grad()
def sample_rollout(model, prompts: list[tuple[tuple[str, str], list[int]]], num_generations: int,
                   generator: torch.Generator, **generate_kw: Any) -> Rollout:
    """``num_generations`` sampled completions of each ``((prompt, module), ids)`` (``prefs_make.select_prompts``),
    drawn with ``generator``; rows of one prompt are consecutive (TRL's group layout). For a model trained on
    molecules the ``smiles`` column holds each row's molecule (``data.smiles.decode_rows``)."""
    tok, device = model.tokenizer, model.transformer.wte.weight.device
    eos = set(model.generation_config.eos_ids or [tok.eos_token_id])
    rows, texts, starts = [], [], []
    was = model.training
    model.eval()
    try:
        for (_, _), ids in prompts:
            x = torch.tensor([ids] * num_generations, dtype=torch.long, device=device)
            out = model.generate(x, do_sample=True, generator=generator, **generate_kw)[:, len(ids):].tolist()
            for row in out:
                cut = next((i + 1 for i, t in enumerate(row) if t in eos), len(row))  # keep the EOS: it is an action
                rows.append(ids + row[:cut])
                starts.append(len(ids))
                texts.append(tok.decode([t for t in row[:cut] if t not in eos], skip_special_tokens=True))
    finally:
        model.train(was)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    width = max(map(len, rows))
    length = max(max(len(r) - s for r, s in zip(rows, starts)), 1)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    positions = torch.zeros(len(rows), length, dtype=torch.long)
    mask = torch.zeros(len(rows), length)
    for i, (row, start) in enumerate(zip(rows, starts)):
        ids[i, :len(row)] = torch.tensor(row)
        n = len(row) - start
        positions[i] = (start + torch.arange(length)).clamp(max=width - 1)
        mask[i, :n] = 1.0
    prompt_texts = [p for (p, _), _ in prompts for _ in range(num_generations)]
    columns = {"modules": [m for (_, m), _ in prompts for _ in range(num_generations)]}
    if molecule_format(tok) is not None:  # the molecule of each row as SMILES (SELFIES decoded) for the reward
        columns["smiles"] = decode_rows(tok, rows)
    return Rollout(ids.to(device), positions.to(device), mask.to(device), prompt_texts, texts, columns)


def score(rollout: Rollout, reward, name: str) -> Rollout:
    """Fill ``rollout.rewards`` with the reward plug-in (``rewards.score_completions``: a failing sample
    scores 0 and is counted; all of them failing is a one-line ``DataError``)."""
    scores = score_completions(reward, rollout.prompts, rollout.completions, name, strict=True, **rollout.columns)
    rollout.rewards = scores.values.to(rollout.mask.device)
    rollout.failed, rollout.first_error = scores.failed, scores.first_error
    return rollout


def completion_logps(model, ids: Tensor, positions: Tensor, mask: Tensor) -> Tensor:
    """(B, L) log π(completion token j), 0 where ``mask`` is 0."""
    lp = model.token_log_probs(ids)
    return lp.gather(1, positions) * mask.to(lp.dtype)


def reference_logps(model, rollout: Rollout) -> Tensor:
    """``completion_logps`` under the base (the policy with its adapters disabled), no gradient."""
    return under_reference(model, completion_logps, rollout.ids, rollout.positions, rollout.mask)


def masked_mean(x: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """Σ m x / Σ m (over ``dim``, or everything), the count clamped to ≥ 1."""
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp(min=1.0)
    return (x * mask).sum(dim) / mask.sum(dim).clamp(min=1.0)
