"""A reward model: a GPT backbone with a scalar head, trained on preference pairs (Bradley–Terry).

    r_φ(x, y) = w · h_L(x ⊕ y)[last real token],   h_L the GPT's final (layer-normed) hidden states

and, for a preferred y_w and a dispreferred y_l (Bradley & Terry 1952; Ouyang et al. 2022, eq. 1),

    P(y_w ≻ y_l | x) = σ(r_φ(x, y_w) − r_φ(x, y_l)),   L = −log σ(r_w − r_l − m) + c · (r_w + r_l)²

with an optional margin m and reward-centring coefficient c (Eisenstein et al. 2023), exactly TRL's
``RewardTrainer`` loss (tests/finetune/test_prefs_parity.py). The held-out pair accuracy is the share
of pairs with r_w > r_l.

``GPTRewardModel`` is the GPT with its LM head replaced by ``score`` (``nn.Linear(n_embd, 1,
bias=False)``): transformers' ``GPT2ForSequenceClassification`` with one label, which
``save_pretrained(path, format="hf")`` writes (scored at the last non-pad token there, so inputs end
without EOS: ``tokenize_pairs(..., add_eos=False)``). It saves as model type ``gpt-reward``, which
``gz.load`` reads; it is not a generative family (no ``sample``/``log_prob``, not in ``genzoo list``).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError, NotSupported
from ..models.gpt import GPT, GPTConfig

MODEL_TYPE = "gpt-reward"


def reward_loss(chosen_rewards: Tensor, rejected_rewards: Tensor, margin: Tensor | None = None,
                center_rewards_coefficient: float | None = None) -> Tensor:
    """Bradley–Terry: mean of −log σ(r_w − r_l − m), plus c · mean((r_w + r_l)²) when c is given."""
    delta = chosen_rewards - rejected_rewards
    loss = -F.logsigmoid(delta if margin is None else delta - margin).mean()
    if center_rewards_coefficient is not None:
        loss = loss + center_rewards_coefficient * torch.mean((chosen_rewards + rejected_rewards) ** 2)
    return loss


class GPTRewardModel(GPT):
    """``model(ids, attention_mask=None) -> (B,)`` rewards at each row's last real token."""

    model_type = MODEL_TYPE
    log_prob_kind = "none"
    default_budget = {"steps": 500, "batch_size": 16, "lr": 1e-4}

    def __init__(self, config: GPTConfig, generator: torch.Generator | None = None):
        super().__init__(config)
        del self.first_token_logits  # no p(x_0): nothing is generated
        self.lm_head = nn.Identity()  # GPT.forward then returns the final hidden states
        self.score = nn.Linear(config.n_embd, 1, bias=False)
        nn.init.normal_(self.score.weight, std=0.02, generator=generator)  # transformers' initializer_range

    @classmethod
    def from_gpt(cls, gpt: GPT, generator: torch.Generator | None = None) -> "GPTRewardModel":
        """A reward model whose backbone starts from ``gpt``'s weights (and keeps its tokenizer)."""
        if not isinstance(gpt, GPT) or isinstance(gpt, GPTRewardModel):
            raise ConfigError(f"a reward model starts from a GPT, not a {type(gpt).__name__}")
        model = cls(gpt.config, generator=generator)
        backbone = {k: v for k, v in gpt.state_dict().items() if k.startswith("transformer.")}
        model.load_state_dict(backbone, strict=False)
        if gpt.tokenizer is not None:
            model.set_tokenizer(gpt.tokenizer)
        return model.to(gpt.transformer.wte.weight.device)

    def forward(self, idx: Tensor, attention_mask: Tensor | None = None, **kw: Any) -> Tensor:
        h = super().forward(self._check_ids(idx), attention_mask=attention_mask)
        T = idx.shape[1]
        if attention_mask is None:
            last = torch.full((idx.shape[0],), T - 1, device=idx.device)
        else:  # the rightmost real token (right or left padding)
            last = (attention_mask.long() * torch.arange(T, device=idx.device)).argmax(-1)
        return self.score(h[torch.arange(idx.shape[0], device=idx.device), last]).squeeze(-1).float()

    def rewards(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """Rewards of right-padded rows with ``lengths`` real tokens."""
        mask = torch.arange(ids.shape[1], device=ids.device) < lengths[:, None]
        return self(ids, attention_mask=mask)

    def pair_rewards(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """(r_w, r_l) of a ``PreferenceData`` batch, in one forward pass."""
        ids = torch.cat([batch["chosen_ids"], batch["rejected_ids"]])
        lengths = torch.cat([batch["chosen_length"], batch["rejected_length"]])
        return self.rewards(ids, lengths).chunk(2)

    def loss(self, batch) -> dict[str, Tensor]:
        chosen, rejected = self.pair_rewards(batch)
        loss = reward_loss(chosen, rejected, batch.get("margin"))
        return {"loss": loss, "accuracy": (chosen > rejected).float().mean().detach(),
                "margin": (chosen - rejected).mean().detach()}

    def log_prob(self, x: Tensor) -> Tensor:
        raise NotSupported("a reward model scores text (model(ids)); it has no log_prob")

    def sample(self, n: int, *, generator: torch.Generator | None = None, **kw: Any) -> Tensor:
        raise NotSupported("a reward model scores text (model(ids)); it does not sample")

    def generate(self, *args: Any, **kw: Any) -> Tensor:
        raise NotSupported("a reward model scores text (model(ids)); it does not generate")

    def token_log_probs(self, x: Tensor) -> Tensor:
        raise NotSupported("a reward model has no token log-probabilities")

    def save_pretrained(self, path, format: str = "genzoo", **kw: Any) -> None:
        """``format="hf"`` writes a transformers ``GPT2ForSequenceClassification`` directory (one label)."""
        if format != "hf":
            return super().save_pretrained(path, format=format, **kw)
        from ..models.gpt_hf import config_to_hf, state_to_hf
        from ..serialization import CONFIG_NAME, WEIGHTS_NAME, atomic_dir, save_tensors, write_json

        hf_config = config_to_hf(self.config, self.generation_config)
        pad = self.tokenizer.pad_token_id if self.tokenizer is not None else hf_config["eos_token_id"]
        hf_config.update(architectures=["GPT2ForSequenceClassification"], num_labels=1, pad_token_id=pad)
        with atomic_dir(path) as tmp:
            write_json(tmp / CONFIG_NAME, hf_config)
            save_tensors(state_to_hf(self), tmp / WEIGHTS_NAME, metadata={"format": "pt"})
            if self.tokenizer is not None:
                self.tokenizer.save(tmp)

    @classmethod
    def from_pretrained(cls, path, **kw: Any) -> "GPTRewardModel":
        from ..serialization import load_model

        return load_model(path, expected=cls, **kw)


@torch.no_grad()
def pair_accuracy(model: GPTRewardModel, data, batch_size: int = 32) -> float:
    """The share of pairs of ``data`` (``PreferenceData``) whose chosen completion gets the higher reward."""
    from ..utils import model_device

    if len(data) == 0:
        raise ConfigError("no pairs to measure the accuracy on")
    was, device, right = model.training, model_device(model), 0
    model.eval()
    try:
        for start in range(0, len(data), batch_size):
            batch = data.batch(torch.arange(start, min(start + batch_size, len(data))))
            chosen, rejected = model.pair_rewards({k: v.to(device) for k, v in batch.items()})
            right += int((chosen > rejected).sum())
    finally:
        model.train(was)
    return right / len(data)
