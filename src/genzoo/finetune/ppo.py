"""PPO for RLHF (Schulman et al. 2017; Ziegler et al. 2019; Ouyang et al. 2022): a LoRA policy with a
value head, a per-token KL penalty to the reference, GAE, clipped surrogate and value losses.

Per completion token t of a sampled y (T tokens), with π_old the sampling policy and π_ref the base
(the policy with its adapter disabled):

    r_t = −β (log π_old(y_t) − log π_ref(y_t)) + [t = T−1] R(x, y)      R: the reward plug-in
    δ_t = r_t + γ V(s_{t+1}) − V(s_t),   V(s_T) = 0
    Â_t = Σ_k (γλ)^k δ_{t+k}  (GAE, Schulman et al. 2016),   returns G_t = Â_t + V(s_t)

then, per minibatch and epoch, with ρ_t = π_θ / π_old and Â whitened over the batch,

    L_π = mean_t max(−Â_t ρ_t, −Â_t clip(ρ_t, 1 − ε, 1 + ε))
    L_V = ½ mean_t max((V_θ − G_t)², (V_old + clip(V_θ − V_old, −ε_V, ε_V) − G_t)²)
    L = L_π + c_V L_V

(TRL's ``PPOTrainer`` conventions). β is fixed, or adapted after every rollout (Ziegler et al. 2019,
§2.2): e = clip(KL / KL_target − 1, −0.2, 0.2), β ← β (1 + e · n / horizon), KL the mean summed
per-sequence KL, n the rollout's sequences.

The value head is ``nn.Linear(n_embd, 1)`` on the policy's final hidden states (read by a forward
hook on ``ln_f``): V(s_t) is the head at the last token of the prefix x ⊕ y_<t. It shares the LoRA
trunk; only the adapter is saved.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .dpo import check_beta
from .rollout import Rollout, completion_logps, masked_mean, reference_logps


# ----------------------------------------------------------------------------- pure functions
def per_token_rewards(scores: Tensor, logps: Tensor, ref_logps: Tensor, mask: Tensor, beta: float) -> Tensor:
    """(B, L) r_t = −β (log π_old − log π_ref) on the completion, plus the score at its last token."""
    rewards = -beta * (logps - ref_logps) * mask
    last = (mask.sum(1).long() - 1).clamp(min=0)
    return rewards.scatter_add(1, last[:, None], scores[:, None].to(rewards.dtype))


def gae(rewards: Tensor, values: Tensor, mask: Tensor, gamma: float = 1.0, lam: float = 0.95) -> tuple[Tensor, Tensor]:
    """(advantages, returns) of right-padded (B, L) rewards and values: δ_t = r_t + γ V_{t+1} − V_t,
    Â_t = δ_t + γλ Â_{t+1}, the value after the last real token 0; G_t = Â_t + V_t; 0 on padding."""
    rewards, values = rewards * mask, values * mask
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):  # on padding δ = 0, so the sums stop at each row's end
        next_value = values[:, t + 1] if t + 1 < rewards.shape[1] else torch.zeros_like(running)
        running = rewards[:, t] + gamma * next_value - values[:, t] + gamma * lam * running
        advantages[:, t] = running
    return advantages * mask, (advantages + values) * mask


def whiten(x: Tensor, mask: Tensor, eps: float = 1e-8) -> Tensor:
    """(x − mean) / sqrt(var + eps) over the masked entries (unbiased variance), 0 on padding."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    n = mask.sum()
    if n > 1:
        var = var * n / (n - 1)
    return (x - mean) * torch.rsqrt(var + eps) * mask


def policy_loss(logps: Tensor, old_logps: Tensor, advantages: Tensor, mask: Tensor,
                clip: float = 0.2) -> tuple[Tensor, Tensor]:
    """(L_π, clip fraction): the masked mean of max(−Â ρ, −Â clip(ρ, 1 − ε, 1 + ε)), ρ = exp(logπ − logπ_old)."""
    ratio = torch.exp(logps - old_logps)
    unclipped, clipped = -advantages * ratio, -advantages * torch.clamp(ratio, 1 - clip, 1 + clip)
    return masked_mean(torch.max(unclipped, clipped), mask), masked_mean((clipped > unclipped).float(), mask).detach()


def value_loss(values: Tensor, old_values: Tensor, returns: Tensor, mask: Tensor,
               clip: float = 0.2) -> tuple[Tensor, Tensor]:
    """(L_V, clip fraction): ½ masked mean of max((V − G)², (V_old + clip(V − V_old, ±ε_V) − G)²)."""
    clipped_values = old_values + torch.clamp(values - old_values, -clip, clip)
    a, b = (values - returns) ** 2, (clipped_values - returns) ** 2
    return 0.5 * masked_mean(torch.max(a, b), mask), masked_mean((b > a).float(), mask).detach()


class AdaptiveKLController:
    """Ziegler et al. (2019): β ← β (1 + clip(KL/target − 1, −0.2, 0.2) · n / horizon); ``target=None``:
    β stays fixed."""

    def __init__(self, beta: float, target: float | None = 6.0, horizon: int = 10000):
        self.value = check_beta(beta)
        if target is not None and not (math.isfinite(target) and target > 0):
            raise ConfigError(f"kl_target={target} must be a positive number (or none: a fixed beta)")
        if horizon < 1:
            raise ConfigError(f"kl_horizon={horizon} must be >= 1")
        self.target, self.horizon = target, horizon

    def update(self, kl: float, n_steps: int) -> float:
        if self.target is not None:
            error = min(max(kl / self.target - 1, -0.2), 0.2)
            self.value *= 1 + error * n_steps / self.horizon
        return self.value


# ----------------------------------------------------------------------------- training
class ValueHead(nn.Module):
    """V(s) = w · h + b on the GPT's final hidden states, captured by a hook on ``transformer.ln_f``."""

    def __init__(self, model, generator: torch.Generator | None = None):
        super().__init__()
        self.linear = nn.Linear(model.config.n_embd, 1)
        with torch.no_grad():
            self.linear.weight.normal_(0, 0.02, generator=generator)
            self.linear.bias.zero_()
        self.to(model.transformer.wte.weight.device)
        self.hidden = None
        model.transformer.ln_f.register_forward_hook(lambda module, args, out: setattr(self, "hidden", out))

    def completion_values(self, positions: Tensor) -> Tensor:
        """(B, L) V(s_t) for completion tokens at ``positions`` after ``token_log_probs`` ran (its forward
        sees ids[:, :-1], so the state before token p is hidden[p − 1])."""
        v = self.linear(self.hidden.float()).squeeze(-1)
        return v.gather(1, (positions - 1).clamp(min=0))


@dataclass
class PPOConfig:
    """``beta`` (initial KL weight, > 0), ``kl_target`` (adaptive β; 0 or none: fixed), ``kl_horizon``,
    ``gamma``, ``lam``, ``clip`` ε, ``value_clip`` ε_V, ``vf_coef`` c_V, ``ppo_epochs``, ``num_minibatches``,
    ``whiten_advantages``."""

    beta: float = 0.05
    kl_target: float | None = None
    kl_horizon: int = 10000
    gamma: float = 1.0
    lam: float = 0.95
    clip: float = 0.2
    value_clip: float = 0.2
    vf_coef: float = 0.1
    ppo_epochs: int = 4
    num_minibatches: int = 1
    whiten_advantages: bool = True

    def __post_init__(self):
        self.beta = check_beta(self.beta)
        if self.kl_target in (0, 0.0):
            self.kl_target = None
        for name in ("gamma", "lam"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be in [0, 1]")
        for name in ("clip", "value_clip", "vf_coef"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name}={getattr(self, name)} must be > 0")
        for name in ("ppo_epochs", "num_minibatches"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 1):
                raise ConfigError(f"{name}={getattr(self, name)} must be an integer >= 1")


class PPO:
    """One PPO step on a scored rollout: ``step(model, rollout, optimizer) -> metrics``; ``parameters()``:
    the value head's, to train with the adapter."""

    def __init__(self, config: PPOConfig, model, generator: torch.Generator):
        self.config, self.generator = config, generator
        self.head = ValueHead(model, generator)
        self.kl = AdaptiveKLController(config.beta, config.kl_target, config.kl_horizon)

    def parameters(self):
        return self.head.parameters()

    def step(self, model, rollout: Rollout, optimizer) -> dict[str, float]:
        c, mask = self.config, rollout.mask
        beta = self.kl.value
        ref = reference_logps(model, rollout)
        with torch.no_grad():
            old = completion_logps(model, rollout.ids, rollout.positions, mask)
            old_values = self.head.completion_values(rollout.positions) * mask
        rewards = per_token_rewards(rollout.rewards, old, ref, mask, beta)
        advantages, returns = gae(rewards, old_values, mask, c.gamma, c.lam)
        if c.whiten_advantages:
            advantages = whiten(advantages, mask)
        n = len(rollout)
        size = max(1, math.ceil(n / c.num_minibatches))
        totals = {"loss": 0.0, "policy_loss": 0.0, "value_loss": 0.0, "clip_fraction": 0.0, "value_clip_fraction": 0.0}
        updates = 0
        for _ in range(c.ppo_epochs):
            order = torch.randperm(n, generator=self.generator).to(mask.device)
            for start in range(0, n, size):
                rows = order[start:start + size]
                m = mask[rows]
                logps = completion_logps(model, rollout.ids[rows], rollout.positions[rows], m)
                values = self.head.completion_values(rollout.positions[rows])
                pg, clip_fraction = policy_loss(logps, old[rows], advantages[rows], m, c.clip)
                vf, value_clip_fraction = value_loss(values, old_values[rows], returns[rows], m, c.value_clip)
                loss = pg + c.vf_coef * vf
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                for key, value in (("loss", loss), ("policy_loss", pg), ("value_loss", vf),
                                   ("clip_fraction", clip_fraction), ("value_clip_fraction", value_clip_fraction)):
                    totals[key] += float(value.detach())
                updates += 1
        kl = float(((old - ref) * mask).sum(1).mean())
        self.kl.update(kl, n)
        return {**{k: v / updates for k, v in totals.items()}, "kl": kl, "beta": beta}
