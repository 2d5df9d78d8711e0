"""DPO, IPO, KTO and reward-model losses equal TRL's on the same batch of log-probs / rewards, values
and gradients (to 1e-6, float64). TRL computes them inside its trainers' ``_compute_loss`` /
``compute_loss``, which run the model; they are called unbound on a stand-in trainer whose "model"
returns the given per-token log-probs (what TRL's fused LM head returns: 0 outside the completion)."""
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

from genzoo.finetune.dpo import completion_log_probs, dpo_loss, ipo_loss, kto_kl, kto_loss
from genzoo.finetune.reward import reward_loss

trl_dpo = pytest.importorskip("trl.trainer.dpo_trainer")
trl_kto = pytest.importorskip("trl.trainer.kto_trainer")
trl_reward = pytest.importorskip("trl.trainer.reward_trainer")

B, T = 4, 9


class Accelerator:
    device = torch.device("cpu")

    def gather(self, x):
        return x

    gather_for_metrics = gather


def stand_in(**attrs):
    """The attributes TRL's loss code reads from its trainer."""
    return SimpleNamespace(model=SimpleNamespace(training=True), accelerator=Accelerator(), aux_loss_enabled=False,
                           _metrics=defaultdict(lambda: defaultdict(list)), _total_train_tokens=0, _tp_size=1, **attrs)


def fake_model(per_token):
    """A stand-in for TRL's model call: its outputs carry the given (N, T-1) per-token log-probs."""
    def call(**kw):
        zeros = torch.zeros_like(per_token)
        return SimpleNamespace(log_probs=per_token, entropy=zeros, mean_logits=zeros, is_top1=zeros.bool())
    return call


def batch(n, seed=0):
    """Per-token log-probs (leaf, float64), completion masks (prompt of 2-4 tokens, then 3-5 completion
    tokens, then padding) and our sequence log-probs of the same tensor."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(n, T, dtype=torch.float64)
    for i in range(n):
        start = int(torch.randint(2, 5, (1,), generator=g))
        mask[i, start:start + int(torch.randint(3, 6, (1,), generator=g))] = 1
    per_token = (-3 * torch.rand(n, T - 1, generator=g, dtype=torch.float64)).requires_grad_()
    # TRL's log_probs[:, t] is log p(x_{t+1} | x_<=t), 0 where the label is masked
    trl_per_token = per_token * mask[:, 1:]
    # genzoo's token_log_probs[:, t] is log p(x_t | x_<t) (column 0: the first token's own distribution)
    ours = SimpleNamespace(token_log_probs=lambda ids: torch.cat([torch.zeros(n, 1, dtype=torch.float64), per_token], 1))
    seq = completion_log_probs(ours, torch.zeros(n, T, dtype=torch.long), mask)
    ref = -10 * torch.rand(n, generator=g, dtype=torch.float64)
    return per_token, trl_per_token, mask, seq, ref


def close(a, b):
    assert torch.allclose(a, b, atol=1e-6, rtol=0), (a, b)


@pytest.mark.parametrize("loss_type,beta", [("sigmoid", 0.1), ("sigmoid", 2.0), ("ipo", 0.1), ("ipo", 0.5)])
def test_dpo_and_ipo_equal_trl(loss_type, beta):
    per_token, trl_per_token, mask, seq, ref = batch(2 * B)
    inputs = {"input_ids": torch.zeros(2 * B, T, dtype=torch.long), "attention_mask": torch.ones(2 * B, T),
              "completion_mask": mask, "ref_chosen_logps": ref[:B], "ref_rejected_logps": ref[B:]}
    trainer = stand_in(ld_alpha=None, precompute_ref_logps=True, f_divergence_type="reverse_kl", loss_types=[loss_type],
                       loss_weights=[1.0], beta=beta, use_weighting=False)
    theirs = trl_dpo.DPOTrainer._compute_loss(trainer, fake_model(trl_per_token), inputs, return_outputs=False)
    (g_theirs,) = torch.autograd.grad(theirs, per_token)
    pc, pr = seq.chunk(2)
    if loss_type == "sigmoid":
        ours = dpo_loss(pc, pr, ref[:B], ref[B:], beta=beta)
    else:
        lc, lr = mask.sum(1).chunk(2)
        ours = ipo_loss(pc, pr, ref[:B], ref[B:], beta=beta, chosen_lengths=lc, rejected_lengths=lr)
    (g_ours,) = torch.autograd.grad(ours, per_token)
    close(ours, theirs)
    close(g_ours, g_theirs)


@pytest.mark.parametrize("weights", [(1.0, 1.0), (1.3, 0.7)])
def test_kto_equals_trl(weights):
    n = 2 * B + 1  # unpaired: 5 desirable, 4 undesirable completions, interleaved
    per_token, trl_per_token, mask, seq, ref = batch(n, seed=1)
    label = torch.tensor([i % 2 == 0 for i in range(n)])
    g = torch.Generator().manual_seed(2)
    policy_kl, ref_kl = -5 * torch.rand(n, generator=g, dtype=torch.float64), -6 * torch.rand(n, generator=g, dtype=torch.float64)
    inputs = {"input_ids": torch.zeros(n, T, dtype=torch.long), "attention_mask": torch.ones(n, T),
              "completion_mask": mask, "label": label, "ref_logps": ref, "ref_KL_logps": ref_kl}
    trainer = stand_in(calculate_KL=True, precompute_ref_logps=True, loss_type="kto", beta=0.1,
                       desirable_weight=weights[0], undesirable_weight=weights[1],
                       _compute_kl_logps=lambda model, batch: policy_kl)
    theirs = trl_kto.KTOTrainer._compute_loss(trainer, fake_model(trl_per_token), inputs, return_outputs=False)
    (g_theirs,) = torch.autograd.grad(theirs, per_token)
    kl = kto_kl(policy_kl, ref_kl)
    assert kl > 0  # the reference point is exercised
    ours = kto_loss(seq[label], seq[~label], ref[label], ref[~label], beta=0.1, kl=kl,
                    desirable_weight=weights[0], undesirable_weight=weights[1])
    (g_ours,) = torch.autograd.grad(ours, per_token)
    close(ours, theirs)
    close(g_ours, g_theirs)


@pytest.mark.parametrize("margin,center", [(False, None), (True, None), (False, 0.01)])
def test_reward_loss_equals_trl_reward_trainer(margin, center):
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(2 * B, 1, generator=g, dtype=torch.float64).requires_grad_()
    inputs = {"input_ids": torch.zeros(2 * B, T, dtype=torch.long), "attention_mask": torch.ones(2 * B, T)}
    m = torch.rand(B, generator=g, dtype=torch.float64)
    if margin:
        inputs["margin"] = m
    trainer = stand_in(args=SimpleNamespace(center_rewards_coefficient=center))
    model = lambda **kw: SimpleNamespace(logits=logits)  # noqa: E731
    theirs = trl_reward.RewardTrainer.compute_loss(trainer, model, inputs)
    (g_theirs,) = torch.autograd.grad(theirs, logits)
    chosen, rejected = logits.squeeze(-1).chunk(2)
    ours = reward_loss(chosen, rejected, m if margin else None, center_rewards_coefficient=center)
    (g_ours,) = torch.autograd.grad(ours, logits)
    close(ours, theirs)
    close(g_ours, g_theirs)
    assert trainer._metrics["train"]["accuracy"]  # TRL's own accuracy was computed on the same rewards
    assert abs(trainer._metrics["train"]["accuracy"][0] - float((chosen > rejected).double().mean())) < 1e-12
