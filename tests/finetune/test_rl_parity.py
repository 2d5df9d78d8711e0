"""GRPO's advantages (float32, to 1e-6) and loss (values and gradients, float64, to 1e-12) equal TRL
1.16's ``GRPOTrainer``; PPO's
per-token rewards, GAE, whitening, clipped losses and KL controller equal a hand-computed case.

TRL computes the advantages inside ``_generate_and_score_completions`` (which samples): its source
block from the aggregation to ``nan_to_num`` is cut out and run as is. ``_compute_loss`` is called
unbound on a stand-in trainer whose model returns the given per-token log-probs."""
import inspect
import textwrap
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

from genzoo.finetune.grpo import grpo_loss, group_advantages
from genzoo.finetune.ppo import AdaptiveKLController, gae, per_token_rewards, policy_loss, value_loss, whiten

trl_grpo = pytest.importorskip("trl.trainer.grpo_trainer")


def trl_advantages(rewards, num_generations, scale_rewards):
    """TRL's own lines: one reward function, weight 1."""
    source = textwrap.dedent(inspect.getsource(trl_grpo.GRPOTrainer._generate_and_score_completions))
    start = source.rindex("\n", 0, source.index('if self.multi_objective_aggregation == "sum_then_normalize":')) + 1
    end = source.index("advantages = torch.nan_to_num(advantages, nan=0.0)")
    block = textwrap.dedent(source[start:end])
    stand_in = SimpleNamespace(multi_objective_aggregation="sum_then_normalize", scale_rewards=scale_rewards,
                               reward_weights=torch.ones(1, dtype=rewards.dtype))
    scope = {"self": stand_in, "rewards_per_func": rewards[:, None].clone(), "num_generations": num_generations,
             "unscorable_mask": torch.zeros(len(rewards), dtype=torch.bool), "device": "cpu", "torch": torch,
             "nanstd": trl_grpo.nanstd}
    exec(compile(block, "trl-advantages", "exec"), scope)  # noqa: S102 - TRL's own source
    return torch.nan_to_num(scope["advantages"], nan=0.0)


@pytest.mark.parametrize("scale_rewards", ["group", "batch", "none"])
@pytest.mark.parametrize("num_generations", [2, 4])
def test_group_advantages_equal_trl(scale_rewards, num_generations):
    g = torch.Generator().manual_seed(num_generations)
    rewards = torch.rand(3 * num_generations, generator=g)  # float32, as rewards are (TRL's Bessel factor is float32)
    rewards[:num_generations] = 0.5  # a group with std 0
    rewards[num_generations] = 0.0  # a python-syntax-like 0/1 mix
    ours = group_advantages(rewards, num_generations, scale_rewards)
    theirs = trl_advantages(rewards, num_generations, scale_rewards)
    assert torch.allclose(ours, theirs, atol=1e-6, rtol=0), (ours, theirs)
    assert ours[:num_generations].abs().max() == 0


class Accelerator:
    device = torch.device("cpu")
    num_processes = 1
    sync_gradients = True

    def gather(self, x):
        return x

    gather_for_metrics = gather

    def reduce(self, x, reduction="sum"):
        return x


def trl_loss(per_token, old, ref, advantages, mask, loss_type, beta, epsilon, epsilon_high, max_len):
    B, L = mask.shape
    stand_in = SimpleNamespace(
        model=SimpleNamespace(training=True), accelerator=Accelerator(), aux_loss_enabled=False, use_vllm=False,
        top_entropy_quantile=1.0, off_policy_mask_threshold=None, importance_sampling_level="token", beta=beta,
        loss_type=loss_type, epsilon_low=epsilon, epsilon_high=epsilon_high, max_completion_length=max_len,
        current_gradient_accumulation_steps=1, _entropy_bonus_enabled=False, _metrics=defaultdict(lambda: defaultdict(list)),
        args=SimpleNamespace(use_bias_correction_kl=False, delta=None, steps_per_generation=1),
        _get_per_token_logps_and_entropies=lambda *a, **kw: (per_token, torch.zeros_like(per_token), None))
    inputs = {"prompt_ids": torch.zeros(B, 2, dtype=torch.long), "prompt_mask": torch.ones(B, 2),
              "completion_ids": torch.zeros(B, L, dtype=torch.long), "completion_mask": mask, "advantages": advantages,
              "old_per_token_logps": old, "ref_per_token_logps": ref, "num_items_in_batch": mask.sum()}
    loss = trl_grpo.GRPOTrainer._compute_loss(stand_in, None, inputs)
    return loss, stand_in._metrics["train"]


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dapo", "dr_grpo"])
@pytest.mark.parametrize("beta,epsilon_high", [(0.04, 0.2), (0.5, 0.28)])
def test_grpo_loss_equals_trl(loss_type, beta, epsilon_high):
    B, L, max_len = 6, 5, 7
    g = torch.Generator().manual_seed(1)
    mask = (torch.arange(L) < torch.randint(1, L + 1, (B, 1), generator=g)).double()
    per_token = (-2 * torch.rand(B, L, generator=g, dtype=torch.float64)).requires_grad_()
    old = per_token.detach() + 0.4 * torch.randn(B, L, generator=g, dtype=torch.float64)  # ratios that clip
    ref = per_token.detach() + 0.3 * torch.randn(B, L, generator=g, dtype=torch.float64)
    advantages = torch.randn(B, generator=g, dtype=torch.float64)
    theirs, metrics = trl_loss(per_token, old, ref, advantages, mask, loss_type, beta, 0.2, epsilon_high, max_len)
    (g_theirs,) = torch.autograd.grad(theirs, per_token)
    ours, stats = grpo_loss(per_token, old, ref, advantages, mask, beta=beta, epsilon=0.2, epsilon_high=epsilon_high,
                            loss_type=loss_type, max_completion_length=max_len)
    (g_ours,) = torch.autograd.grad(ours, per_token)
    assert torch.allclose(ours, theirs, atol=1e-12, rtol=0), (ours, theirs)
    assert torch.allclose(g_ours, g_theirs, atol=1e-12, rtol=0)
    assert float(stats["kl"]) == pytest.approx(metrics["kl"][0], abs=1e-12)
    assert float(stats["clip_fraction"]) == pytest.approx(metrics["clip_ratio/region_mean"][0], abs=1e-12)


# ----------------------------------------------------------------------------- PPO by hand
def t(rows):
    return torch.tensor(rows, dtype=torch.float64)


def test_per_token_rewards_by_hand():
    mask = t([[1, 1, 1], [1, 0, 0]])
    logps, ref = t([[0.1, 0.2, 0.3], [0.4, 9, 9]]), torch.zeros(2, 3, dtype=torch.float64)
    rewards = per_token_rewards(t([1.0, 2.0]), logps, ref, mask, beta=0.5)
    assert torch.allclose(rewards, t([[-0.05, -0.1, 0.85], [1.8, 0, 0]]))


def test_gae_by_hand():
    # row 0: δ2 = 2 − 1.5 = 0.5; δ1 = 0 + 0.9·1.5 − 1 = 0.35, A1 = 0.35 + 0.72·0.5 = 0.71;
    #        δ0 = 1 + 0.9·1 − 0.5 = 1.4, A0 = 1.4 + 0.72·0.71 = 1.9112
    # row 1 (2 tokens; the padded value 9 is ignored): δ1 = 1 − 2 = −1; δ0 = 0.5 + 0.9·2 − 1 = 1.3, A0 = 1.3 − 0.72 = 0.58
    rewards, values = t([[1, 0, 2], [0.5, 1, 7]]), t([[0.5, 1, 1.5], [1, 2, 9]])
    advantages, returns = gae(rewards, values, t([[1, 1, 1], [1, 1, 0]]), gamma=0.9, lam=0.8)
    assert torch.allclose(advantages, t([[1.9112, 0.71, 0.5], [0.58, -1, 0]]))
    assert torch.allclose(returns, t([[2.4112, 1.71, 2.0], [1.58, 1.0, 0]]))


def test_whiten_by_hand():
    x, mask = t([[1, 2, 3], [4, 99, 99]]), t([[1, 1, 1], [1, 0, 0]])
    # mean 2.5, unbiased var 5/3
    assert torch.allclose(whiten(x, mask, eps=0), t([[-1.5, -0.5, 0.5], [1.5, 0, 0]]) / (5 / 3) ** 0.5)


def test_clipped_policy_loss_by_hand():
    ratios, mask = t([[1.5, 0.5, 1.0], [0.5, 2.0, 1.0]]), t([[1, 1, 1], [1, 0, 0]])
    advantages = t([[1, 1, -1], [-2, 3, 0]])
    # max(−Aρ, −A clip(ρ)): 1.5,A=1 → −1.2 (clipped); 0.5,A=1 → −0.5; 1,A=−1 → 1; 0.5,A=−2 → 1.6 (clipped)
    loss, clip_fraction = policy_loss(ratios.log(), torch.zeros(2, 3, dtype=torch.float64), advantages, mask, clip=0.2)
    assert float(loss) == pytest.approx(0.9 / 4) and float(clip_fraction) == pytest.approx(0.5)


def test_clipped_value_loss_by_hand():
    # token 0: (1 − 2)² = 1 vs (0.5 + 0.2 − 2)² = 1.69; token 1: 0 vs (0.5 − 0.2)² = 0.09 → ½ · (1.69 + 0.09) / 2
    loss, clip_fraction = value_loss(t([[1.0, 0.0]]), t([[0.5, 0.5]]), t([[2.0, 0.0]]), t([[1, 1]]), clip=0.2)
    assert float(loss) == pytest.approx(0.445) and float(clip_fraction) == 1.0


def test_kl_controller_by_hand():
    kl = AdaptiveKLController(0.1, target=6.0, horizon=100)
    assert kl.update(12.0, 10) == pytest.approx(0.1 * 1.02)  # error 1 clipped to 0.2
    assert kl.update(3.0, 10) == pytest.approx(0.1 * 1.02 * 0.98)  # error −0.5 clipped to −0.2
    fixed = AdaptiveKLController(0.1, target=None)
    assert fixed.update(100.0, 10) == 0.1
