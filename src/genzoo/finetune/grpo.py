"""GRPO (Shao et al. 2024, DeepSeekMath §4.1): PPO without a critic; the baseline of a completion is
the mean reward of the G completions sampled for the same prompt.

Group-relative advantages (TRL 1.16 ``GRPOTrainer``, ``scale_rewards``):

    A_i = (r_i − mean_g r) / (std_g r + 1e-4)     "group": mean and std over the G completions of the prompt
    A_i = (r_i − mean_g r) / (std_B r + 1e-4)     "batch": std over the whole batch
    A_i =  r_i − mean_g r                          "none"  (Dr. GRPO, Liu et al. 2025)

(std with Bessel's correction, as ``torch.std``); A_i is the same for every token of completion i.
Per token, with ρ_t = π_θ(y_t | ·) / π_old(y_t | ·) and the k3 estimator of KL(π_θ ‖ π_ref)
(Schulman 2020; the paper's eq. 4)

    ℓ_t = −min(ρ_t A, clip(ρ_t, 1 − ε_low, 1 + ε_high) A) + β (π_ref/π_θ − log(π_ref/π_θ) − 1)

aggregated (``loss_type``) as TRL does: ``grpo``: the mean over each completion's tokens, then over
completions (the paper); ``bnpo``/``dapo`` (TRL 1.16's default, Yu et al. 2025): Σ ℓ over all tokens of
the batch / their number; ``dr_grpo``: Σ ℓ / (B · max_new_tokens). Values and gradients equal TRL's
(tests/finetune/test_rl_parity.py). π_old is the policy that sampled (π_θ detached when each rollout is
used for one update, ``num_iterations=1``); π_ref is the base with the adapter disabled.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import ConfigError, did_you_mean
from .dpo import check_beta
from .rollout import Rollout, completion_logps, masked_mean, reference_logps

SCALE_REWARDS = ("group", "batch", "none")
LOSS_TYPES = ("grpo", "bnpo", "dapo", "dr_grpo")


def group_advantages(rewards: Tensor, num_generations: int, scale_rewards: str = "group", eps: float = 1e-4) -> Tensor:
    """(B,) advantages of rewards laid out as consecutive groups of ``num_generations`` (see the module
    docstring); a group of one has std 0."""
    if scale_rewards not in SCALE_REWARDS:
        raise ConfigError(f"scale_rewards={scale_rewards!r} is not one of {', '.join(SCALE_REWARDS)}"
                          f"{did_you_mean(scale_rewards, SCALE_REWARDS)}")
    if num_generations < 1 or rewards.numel() % num_generations:
        raise ConfigError(f"{rewards.numel()} rewards do not split into groups of {num_generations}")
    groups = rewards.view(-1, num_generations)
    advantages = (groups - groups.mean(1, keepdim=True)).flatten()
    if scale_rewards == "none":
        return advantages
    if scale_rewards == "group":
        std = groups.std(1).repeat_interleave(num_generations) if num_generations > 1 else torch.zeros_like(rewards)
    else:
        std = rewards.std().expand_as(rewards) if rewards.numel() > 1 else torch.zeros_like(rewards)
    return advantages / (std + eps)


def k3_kl(logps: Tensor, ref_logps: Tensor) -> Tensor:
    """Per-token k3 estimate of KL(π_θ ‖ π_ref): exp(Δ) − Δ − 1 with Δ = log π_ref − log π_θ (≥ 0)."""
    delta = ref_logps - logps
    return torch.exp(delta) - delta - 1


def grpo_loss(logps: Tensor, old_logps: Tensor, ref_logps: Tensor | None, advantages: Tensor, mask: Tensor,
              beta: float = 0.04, epsilon: float = 0.2, epsilon_high: float | None = None, loss_type: str = "dapo",
              max_completion_length: int | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """The GRPO loss of (B, L) per-token log-probs (module docstring) and statistics (``kl``: the masked
    mean k3, ``clip_fraction``: the share of tokens whose ratio is clipped in the direction of A)."""
    if loss_type not in LOSS_TYPES:
        raise ConfigError(f"loss_type={loss_type!r} is not one of {', '.join(LOSS_TYPES)}{did_you_mean(loss_type, LOSS_TYPES)}")
    eps_high = epsilon if epsilon_high is None else epsilon_high
    a = advantages.unsqueeze(1) if advantages.dim() == 1 else advantages
    ratio = torch.exp(logps - old_logps)
    per_token = -torch.min(ratio * a, torch.clamp(ratio, 1 - epsilon, 1 + eps_high) * a)
    stats = {}
    if ref_logps is not None and beta != 0:
        kl = k3_kl(logps, ref_logps)
        per_token = per_token + beta * kl
        stats["kl"] = masked_mean(kl, mask).detach()
    if loss_type == "grpo":
        loss = masked_mean(per_token, mask, dim=-1).mean()
    elif loss_type == "dr_grpo":
        loss = (per_token * mask).sum() / (per_token.shape[0] * (max_completion_length or mask.shape[1]))
    else:
        loss = masked_mean(per_token, mask)
    clipped = ((ratio < 1 - epsilon) & (a < 0)) | ((ratio > 1 + eps_high) & (a > 0))
    stats["clip_fraction"] = masked_mean(clipped.float(), mask).detach()
    return loss, stats


@dataclass
class GRPOConfig:
    """``num_generations`` G per prompt, ``beta`` (KL weight, > 0), ``clip`` ε (``clip_high``: ε_high,
    default ε), ``scale_rewards``, ``loss_type``, ``num_iterations`` μ (updates per rollout)."""

    num_generations: int = 4
    beta: float = 0.04
    clip: float = 0.2
    clip_high: float | None = None
    scale_rewards: str = "group"
    loss_type: str = "dapo"
    num_iterations: int = 1

    def __post_init__(self):
        self.beta = check_beta(self.beta)
        if not (isinstance(self.num_generations, int) and self.num_generations >= 2):
            raise ConfigError(f"num_generations={self.num_generations} must be an integer >= 2 (a group needs a baseline)")
        for name in ("clip", "clip_high"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and 0 < value < 1):
                raise ConfigError(f"{name}={value} must be in (0, 1)")
        if not (isinstance(self.num_iterations, int) and self.num_iterations >= 1):
            raise ConfigError(f"num_iterations={self.num_iterations} must be an integer >= 1")
        group_advantages(torch.zeros(2), 2, self.scale_rewards)  # validates the names
        if self.loss_type not in LOSS_TYPES:
            raise ConfigError(f"loss_type={self.loss_type!r} is not one of {', '.join(LOSS_TYPES)}"
                              f"{did_you_mean(self.loss_type, LOSS_TYPES)}")


class GRPO:
    """One GRPO step on a scored rollout: ``step(model, rollout, optimizer) -> metrics``."""

    def __init__(self, config: GRPOConfig, max_new_tokens: int):
        self.config, self.max_new_tokens = config, max_new_tokens

    def step(self, model, rollout: Rollout, optimizer) -> dict[str, float]:
        c = self.config
        advantages = group_advantages(rollout.rewards, c.num_generations, c.scale_rewards)
        ref = reference_logps(model, rollout)
        old = None
        if c.num_iterations > 1:
            with torch.no_grad():
                old = completion_logps(model, rollout.ids, rollout.positions, rollout.mask)
        for _ in range(c.num_iterations):
            logps = completion_logps(model, rollout.ids, rollout.positions, rollout.mask)
            loss, stats = grpo_loss(logps, logps.detach() if old is None else old, ref, advantages, rollout.mask,
                                    beta=c.beta, epsilon=c.clip, epsilon_high=c.clip_high, loss_type=c.loss_type,
                                    max_completion_length=self.max_new_tokens)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return {"loss": float(loss.detach()), "kl": float(stats["kl"]), "clip_fraction": float(stats["clip_fraction"]),
                "advantage_abs": float(advantages.abs().mean())}
