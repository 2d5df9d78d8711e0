"""Beam search (as transformers' ``GenerationMixin._beam_search``, token for token).

Each batch item keeps K running hypotheses with accumulated scores s = Σ log p(y_t | y_<t, x) (after
the logits processors, applied to the log-probabilities). At every step the top 2K continuations of
all K beams are ranked by s; the best K that did not just end (EOS or the length limit) keep running,
and those among the top K that did end are candidates for the n-best list, scored with the length
penalty

    score = s / L^α,   L = generated tokens (EOS included),  α = ``length_penalty``

(α > 0 favours longer outputs, α < 0 shorter). The K best finished hypotheses are kept.

Stopping (``early_stopping``): ``True`` ends an item as soon as it has K finished hypotheses;
``False`` ends it when the best running score divided by the *current* length penalty cannot beat
the worst kept finished one (transformers' heuristic); ``"never"`` uses the best length the item could
still reach when α > 0, so it stops only when no better hypothesis is possible (canonical beam search).
The call ends when every item has stopped or every continuation hit the length limit. The first
``num_return_sequences`` of the n-best list are returned, best first, padded on the right.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from .errors import ConfigError
from .samplers.decoding import process

NEG = -1.0e9


def _gather(t: Tensor, index: Tensor) -> Tensor:
    """t[b, index[b, j], ...] for (batch, beams, ...) tensors."""
    while index.dim() < t.dim():
        index = index.unsqueeze(-1)
    return torch.take_along_dim(t, index, dim=1)


def check_beam_options(num_beams: int, num_return_sequences: int, early_stopping, do_sample: bool) -> None:
    if not (isinstance(num_beams, int) and num_beams >= 1):
        raise ConfigError(f"num_beams must be a positive integer, got {num_beams!r}")
    if num_beams > 1 and num_return_sequences > num_beams:
        raise ConfigError(f"num_return_sequences ({num_return_sequences}) cannot exceed num_beams ({num_beams})")
    if early_stopping not in (True, False, "never"):
        raise ConfigError(f"early_stopping must be True, False or 'never', got {early_stopping!r}")
    if num_beams > 1 and do_sample:
        raise ConfigError("beam sampling is not supported; use do_sample=False with num_beams > 1, or num_beams=1 to sample")


@torch.inference_mode()
def beam_search(step: Callable[[Tensor], Tensor], reorder: Callable[[Tensor], None] | None, input_ids: Tensor, *,
                num_beams: int, max_new_tokens: int, eos_ids: list[int], pad_id: int | None, length_penalty: float = 1.0,
                early_stopping: bool | str = False, num_return_sequences: int = 1, procs: list = ()) -> Tensor:
    """Beam search over a model given by ``step``.

    ``input_ids`` (B * K, T): each prompt repeated K = ``num_beams`` times. ``step(seqs)`` gets the
    running sequences (B * K, cur_len) and returns next-token logits (B * K, V) for their last
    position (a cached model reads only the new token); ``reorder(rows)`` makes row i of the model's
    cache continue from row ``rows[i]``. Returns (B * num_return_sequences, T + generated) ids.
    """
    K = num_beams
    BK, T = input_ids.shape
    B, device = BK // K, input_ids.device
    max_length = T + max_new_tokens
    if max_new_tokens == 0:
        return input_ids[::K].repeat_interleave(num_return_sequences, 0)
    eos = torch.tensor(eos_ids, dtype=torch.long, device=device)
    keep = max(2, 1 + len(eos_ids)) * K
    top_k_mask = torch.arange(keep, device=device) < K
    fill = (pad_id or eos_ids[0]) if eos_ids else -1  # transformers' fill value, quirks included

    running = torch.full((B, K, max_length), fill, dtype=torch.long, device=device)
    running[:, :, :T] = input_ids.view(B, K, T)
    finished_seqs = running.clone()
    running_scores = torch.zeros(B, K, device=device)
    running_scores[:, 1:] = NEG  # only the first copy of each prompt starts
    finished_scores = torch.full((B, K), NEG, device=device)
    is_finished = torch.zeros(B, K, dtype=torch.bool, device=device)
    improvable = torch.ones(B, 1, dtype=torch.bool, device=device)
    running_parents = torch.full((B, K, max_new_tokens), -1, dtype=torch.long, device=device)
    finished_parents = running_parents.clone()
    offset = torch.arange(B, device=device)[:, None] * K

    cur = T
    while True:
        flat = running[:, :, :cur].reshape(BK, cur)
        log_probs = torch.log_softmax(step(flat).float(), dim=-1)
        log_probs = process(list(procs), flat, log_probs)
        V = log_probs.shape[-1]
        log_probs = (log_probs.view(B, K, V) + running_scores[:, :, None]).view(B, K * V)

        # the best `keep` continuations over all beams
        top_lp, top_idx = torch.topk(log_probs, keep)
        parent = top_idx // V
        top_seqs = _gather(running, parent)
        top_seqs[:, :, cur] = top_idx % V
        top_parents = _gather(running_parents, parent)
        top_parents[:, :, cur - T] = parent + offset
        hits = torch.isin(top_seqs[:, :, cur], eos) | (cur + 1 >= max_length)

        # the K best that go on
        go_on = top_lp + hits.float() * NEG
        nxt = torch.topk(go_on, K)[1]
        running, running_scores, running_parents = _gather(top_seqs, nxt), _gather(go_on, nxt), _gather(top_parents, nxt)

        # the n-best list: merge the top-K continuations that just ended, scored with the length penalty
        just_done = hits & top_k_mask[None]
        scores = top_lp / ((cur + 1 - T) ** length_penalty)
        full = is_finished.all(-1, keepdim=True) & (early_stopping is True)
        scores = scores + full.float() * NEG + (~improvable).float() * NEG + (~just_done).float() * NEG
        merged_scores = torch.cat([finished_scores, scores], 1)
        best = torch.topk(merged_scores, K)[1]
        finished_seqs = _gather(torch.cat([finished_seqs, top_seqs], 1), best)
        finished_scores = _gather(merged_scores, best)
        finished_parents = _gather(torch.cat([finished_parents, top_parents], 1), best)
        is_finished = _gather(torch.cat([is_finished, just_done], 1), best)

        if reorder is not None:
            reorder(running_parents[:, :, cur - T].reshape(BK))
        cur += 1
        # can a running beam still beat the worst kept finished one?
        length = max_length - T if (early_stopping == "never" and length_penalty > 0.0) else cur - T
        best_running = running_scores[:, :1] / (length ** length_penalty)
        worst_done = torch.where(is_finished, finished_scores.min(1, keepdim=True)[0], NEG)
        improvable = improvable & (best_running > worst_done).any(-1, keepdim=True)
        open_beams = not (bool(is_finished.all()) and early_stopping is True)
        if not (bool(improvable.any()) and open_beams and not bool(hits.all())):
            break

    seqs = finished_seqs[:, :num_return_sequences].reshape(B * num_return_sequences, max_length)
    parents = finished_parents[:, :num_return_sequences].reshape(B * num_return_sequences, -1)
    generated = int((parents >= 0).sum(1).max())
    return seqs[:, :T + generated]
