"""Preference optimisation: DPO, IPO and KTO losses as pure functions of sequence log-probabilities,
and the objective the one Trainer runs with them (``Trainer(objective=PreferenceObjective(...))``).

For a prompt x with a preferred completion y_w and a dispreferred y_l, a policy π_θ and a frozen
reference π_ref, the implicit reward of a completion is the log-ratio

    r(y) = log π_θ(y | x) − log π_ref(y | x),   log π(y | x) = Σ_{t ∈ completion} log π(y_t | x, y_<t)

(``completion_log_probs``; prompt and padding tokens do not count). With β > 0:

- DPO (Rafailov et al. 2023, eq. 7):    L = −log σ(β (r(y_w) − r(y_l)))
- IPO (Azar et al. 2023, eq. 17):       L = (h − 1/(2β))²,  h = r(y_w)/|y_w| − r(y_l)/|y_l|
  (log-ratios per completion token, as TRL does after asking the IPO authors; without lengths, the
  paper's h = r(y_w) − r(y_l))
- KTO (Ethayarajh et al. 2024, eq. 7): a desirable y costs λ_D (1 − σ(β (r(y) − z₀))), an undesirable
  one λ_U (1 − σ(β (z₀ − r(y)))), averaged over all completions; z₀ = max(0, mean_k [log π_θ(y'_k|x_k)
  − log π_ref(y'_k|x_k)]) is a KL estimate on mismatched pairs (completion k−1 after prompt k) that
  carries no gradient. A pair gives one desirable (chosen) and one undesirable (rejected) example.

Each loss returns the batch mean (``reduction="none"``: per example); values and gradients equal
TRL's ``DPOTrainer``/``KTOTrainer`` (tests/finetune/test_prefs_parity.py). The reference of an adapted
model is the model itself inside ``disable_adapters`` (no second copy); its log-probs can be computed
once before training (``precompute_reference``).
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError, did_you_mean
from .base import adapter_layers, disable_adapters

LOSSES = ("dpo", "ipo", "kto")


def check_beta(beta) -> float:
    """β as a float; ``ConfigError`` unless it is a finite number > 0."""
    try:
        value = float(beta)
    except (TypeError, ValueError):
        value = float("nan")
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"beta={beta} must be a positive number (the strength of the pull to the reference, e.g. beta=0.1)")
    return value


def _check_weight(name: str, value) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ConfigError(f"{name}={value} must be a positive number")
    return float(value)


def _reduce(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return losses
    if reduction != "mean":
        raise ConfigError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    return losses.mean()


def dpo_loss(policy_chosen_logps: Tensor, policy_rejected_logps: Tensor, ref_chosen_logps: Tensor,
             ref_rejected_logps: Tensor, beta: float = 0.1, reduction: str = "mean") -> Tensor:
    """DPO: −log σ(β [(log π_θ(y_w) − log π_ref(y_w)) − (log π_θ(y_l) − log π_ref(y_l))])."""
    beta = check_beta(beta)
    delta = (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)
    return _reduce(-F.logsigmoid(beta * delta), reduction)


def ipo_loss(policy_chosen_logps: Tensor, policy_rejected_logps: Tensor, ref_chosen_logps: Tensor,
             ref_rejected_logps: Tensor, beta: float = 0.1, chosen_lengths: Tensor | None = None,
             rejected_lengths: Tensor | None = None, reduction: str = "mean") -> Tensor:
    """IPO: (h − 1/(2β))² with h the difference of log-ratios, each divided by its completion's length
    when lengths are given (clamped to ≥ 1)."""
    beta = check_beta(beta)
    chosen, rejected = policy_chosen_logps - ref_chosen_logps, policy_rejected_logps - ref_rejected_logps
    if (chosen_lengths is None) != (rejected_lengths is None):
        raise ConfigError("ipo_loss takes both chosen_lengths and rejected_lengths, or neither")
    if chosen_lengths is not None:
        chosen = chosen / chosen_lengths.to(chosen.dtype).clamp(min=1.0)
        rejected = rejected / rejected_lengths.to(rejected.dtype).clamp(min=1.0)
    return _reduce((chosen - rejected - 1 / (2 * beta)) ** 2, reduction)


def kto_loss(policy_chosen_logps: Tensor, policy_rejected_logps: Tensor, ref_chosen_logps: Tensor,
             ref_rejected_logps: Tensor, beta: float = 0.1, kl: Tensor | float = 0.0, desirable_weight: float = 1.0,
             undesirable_weight: float = 1.0, reduction: str = "mean") -> Tensor:
    """KTO: mean of λ_D (1 − σ(β (r_w − z₀))) over desirable and λ_U (1 − σ(β (z₀ − r_l))) over
    undesirable completions (the two sets may differ in size); ``kl`` is z₀ (``kto_kl``)."""
    beta = check_beta(beta)
    desirable_weight = _check_weight("desirable_weight", desirable_weight)
    undesirable_weight = _check_weight("undesirable_weight", undesirable_weight)
    chosen = 1 - torch.sigmoid(beta * ((policy_chosen_logps - ref_chosen_logps) - kl))
    rejected = 1 - torch.sigmoid(beta * (kl - (policy_rejected_logps - ref_rejected_logps)))
    return _reduce(torch.cat([desirable_weight * chosen, undesirable_weight * rejected]), reduction)


def kto_kl(policy_kl_logps: Tensor, ref_kl_logps: Tensor) -> Tensor:
    """KTO's reference point z₀ = max(0, mean(log π_θ − log π_ref)) on mismatched pairs, detached."""
    return (policy_kl_logps - ref_kl_logps).mean().detach().clamp(min=0)


# ----------------------------------------------------------------------------- log-probabilities
def completion_log_probs(model, ids: Tensor, completion_mask: Tensor) -> Tensor:
    """Σ_t m_t log π(ids_t | ids_<t) per row (B,): the log-probability of the masked completion tokens."""
    if not hasattr(model, "token_log_probs"):
        raise ConfigError(f"preference training needs an autoregressive model with token_log_probs; "
                          f"{type(model).__name__} has none")
    lp = model.token_log_probs(ids)
    return (lp * completion_mask.to(lp.dtype)).sum(-1)


@contextlib.contextmanager
def _evaluating(model):
    was = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was)


@torch.no_grad()
def under_reference(model, fn, *args, reference=None):
    """``fn(m, *args)`` with ``m`` the reference: ``reference`` if given, else ``model`` with its adapters
    disabled (in eval mode, no gradient)."""
    if reference is not None:
        with _evaluating(reference):
            return fn(reference, *args)
    if next(adapter_layers(model), None) is None:
        raise ConfigError("the reference is the base model with its adapters disabled, but this model has no adapter; "
                          "train an adapter, pass a frozen reference model, or precompute the reference log-probs")
    with disable_adapters(model), _evaluating(model):
        return fn(model, *args)


def reference_log_probs(model, ids: Tensor, completion_mask: Tensor, reference=None) -> Tensor:
    """``completion_log_probs`` under the reference (``under_reference``)."""
    return under_reference(model, completion_log_probs, ids, completion_mask, reference=reference)


def _pairs(batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    """(2B, T) ids and completion masks: the chosen rows, then the rejected rows."""
    return (torch.cat([batch["chosen_ids"], batch["rejected_ids"]]),
            torch.cat([batch["chosen_mask"], batch["rejected_mask"]]))


def mismatched_pairs(batch: dict[str, Tensor], block_size: int) -> tuple[Tensor, Tensor]:
    """KTO's KL rows (TRL's rule): over the 2B completions, prompt k followed by completion k−1,
    cut to ``block_size``; returns right-padded ids and completion masks."""
    ids, _ = _pairs(batch)
    lengths = torch.cat([batch["chosen_length"], batch["rejected_length"]]).tolist()
    prompts = batch["prompt_length"].repeat(2).tolist()
    rows = []
    for k in range(len(lengths)):
        j = k - 1  # row -1 is the last one: a rotation
        completion = ids[j, prompts[j]:lengths[j]][: block_size - prompts[k]]
        rows.append((torch.cat([ids[k, :prompts[k]], completion]), prompts[k]))
    width = max(len(seq) for seq, _ in rows)
    out = ids.new_zeros(len(rows), width)
    mask = torch.zeros(len(rows), width, device=ids.device)
    for k, (seq, n_prompt) in enumerate(rows):
        out[k, :len(seq)] = seq
        mask[k, n_prompt:len(seq)] = 1.0
    return out, mask


# ----------------------------------------------------------------------------- training
@dataclass
class PreferenceConfig:
    """``loss`` (dpo, ipo, kto), ``beta``, KTO's ``desirable_weight``/``undesirable_weight``, and
    ``precompute_ref``: compute the reference log-probs of every pair once before training."""

    loss: str = "dpo"
    beta: float = 0.1
    desirable_weight: float = 1.0
    undesirable_weight: float = 1.0
    precompute_ref: bool = False

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown preference loss {self.loss!r}{did_you_mean(self.loss, LOSSES)}")
        self.beta = check_beta(self.beta)
        self.desirable_weight = _check_weight("desirable_weight", self.desirable_weight)
        self.undesirable_weight = _check_weight("undesirable_weight", self.undesirable_weight)


class PreferenceObjective:
    """``objective(model, batch) -> {"loss", ...}`` for ``Trainer(objective=...)``: ``model`` is the
    policy; the reference is ``reference`` (a frozen model) or ``model`` with its adapters disabled,
    unless the batch carries precomputed ``ref_chosen_logps``/``ref_rejected_logps``."""

    def __init__(self, config: PreferenceConfig, reference=None):
        self.config, self.reference = config, reference
        if reference is not None:
            reference.requires_grad_(False)

    def __call__(self, model, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        c = self.config
        ids, mask = _pairs(batch)
        policy_chosen, policy_rejected = completion_log_probs(model, ids, mask).chunk(2)
        if "ref_chosen_logps" in batch:
            ref_chosen, ref_rejected = batch["ref_chosen_logps"], batch["ref_rejected_logps"]
        else:
            ref_chosen, ref_rejected = reference_log_probs(model, ids, mask, self.reference).chunk(2)
        logps = (policy_chosen, policy_rejected, ref_chosen, ref_rejected)
        extra = {}
        if c.loss == "dpo":
            loss = dpo_loss(*logps, beta=c.beta)
        elif c.loss == "ipo":
            chosen_len, rejected_len = mask.sum(-1).chunk(2)
            loss = ipo_loss(*logps, beta=c.beta, chosen_lengths=chosen_len, rejected_lengths=rejected_len)
        else:
            kl_ids, kl_mask = mismatched_pairs(batch, model.config.block_size)
            with torch.no_grad():
                policy_kl = completion_log_probs(model, kl_ids, kl_mask)
            kl = kto_kl(policy_kl, reference_log_probs(model, kl_ids, kl_mask, self.reference))
            loss = kto_loss(*logps, beta=c.beta, kl=kl, desirable_weight=c.desirable_weight,
                            undesirable_weight=c.undesirable_weight)
            extra["kl"] = kl
        chosen = c.beta * (policy_chosen - ref_chosen).detach()
        rejected = c.beta * (policy_rejected - ref_rejected).detach()
        return {"loss": loss, "reward_chosen": chosen.mean(), "reward_rejected": rejected.mean(),
                "reward_accuracy": (chosen > rejected).float().mean(), "reward_margin": (chosen - rejected).mean(), **extra}


@torch.no_grad()
def precompute_reference(model, data, batch_size: int = 16, reference=None, device=None) -> None:
    """Compute the reference log-probs of every pair of ``data`` (a ``PreferenceData``) once and store
    them in it (``data.set_reference``): the reference is ``reference``, or ``model`` itself when it has
    no adapter yet (the base) or with its adapters disabled."""
    from ..utils import model_device

    device = device or model_device(reference if reference is not None else model)
    chosen, rejected = [], []
    for start in range(0, len(data), batch_size):
        batch = data.batch(torch.arange(start, min(start + batch_size, len(data))))
        ids, mask = (t.to(device) for t in _pairs(batch))
        if reference is None and next(adapter_layers(model), None) is None:
            with _evaluating(model):
                lp = completion_log_probs(model, ids, mask)
        else:
            lp = reference_log_probs(model, ids, mask, reference)
        c, r = lp.chunk(2)
        chosen.append(c)
        rejected.append(r)
    data.set_reference(torch.cat(chosen), torch.cat(rejected))
