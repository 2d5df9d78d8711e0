"""Masked diffusion language model, MDLM (Sahoo et al. 2024, "Simple and Effective Masked Diffusion
Language Models"; Shi et al. 2024, MD4): discrete diffusion on token rows with an absorbing MASK state.

Forward process: each token of a row x (length L) is replaced by MASK independently with probability
1 − α_t, α_t = 1 − t (the linear schedule), t ∈ [0, 1]. The denoiser x_θ(z_t) is a bidirectional
transformer giving a distribution over the vocabulary at every position; it never predicts MASK and
has no time input (the SUBS parameterisation: the share of masks tells the time, MDLM §3.2).

Continuous-time negative ELBO (MDLM eq. 10 with α_t = 1 − t), nats per row:

    NELBO(x) = E_{t~U(0,1)} [ (1/t) Σ_{i: z_t^i = MASK} −log x_θ(z_t)_i[x^i] ]

For a time-independent denoiser this is exactly the any-order autoregressive NLL E_σ Σ_i −log
p(x_σ(i) | x_σ(<i)), the mean over orderings σ (Ou et al. 2024; tests/mdlm enumerate both). The training
loss is the NELBO per token with t drawn low-discrepancy, t_b = (u + b/B) mod 1 (MDLM §3.5), and kept
above ``t_min``; ``log_prob`` is −NELBO estimated with K draws of t (a bound: ``log_prob_kind``).

Sampling: MDLM's ancestral sampler (eq. 7) reveals each masked position going from t to s with
probability (t − s)/t, drawn from x_θ(z_t); with a time-independent denoiser only the order in which
positions are revealed matters, and as the steps shrink that order is a uniform random permutation with
one position revealed at a time — the any-order autoregressive sampler, exact for the model (Ou et al.
2024). ``sample`` draws that order per row and reveals ``L / sample_steps`` positions per network call:
``sample_steps = L`` (the default) is the exact one-at-a-time sampler; fewer steps are faster and draw the
positions of a step independently (the parallel-decoding error of few-step MDLM). ``order="confidence"``
(``sample_order``) reveals instead the masked positions whose drawn token has the highest probability
(MaskGIT, Chang et al. 2022; LLaDA's low-confidence remasking, Nie et al. 2025): no longer the model's
distribution, usually more valid samples from an under-trained model. ``temperature`` scales the logits;
revealed tokens never change; one seeded ``torch.Generator`` draws everything.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError, DataError
from ..model import GenerativeModel, ModelConfig
from ..nn.transformer import Block, init_gpt_weights, make_norm
from ..registry import register_model
from ..utils import model_device, unpack_batch
from .lm_files import token_row_config


ORDERS = ("random", "confidence")


@dataclass
class MDLMConfig(ModelConfig):
    vocab_size: int = 256
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    t_min: float = 1e-3  # training times t are drawn in [t_min, 1]: the weight 1/t stays finite
    sample_steps: int | None = None  # network calls per sample; default: block_size (one token each, exact)
    sample_order: str = "random"  # "random" (exact for the model) or "confidence" (MaskGIT-style, surest first)

    def __post_init__(self):
        checks = [
            (self.vocab_size >= 2, f"vocab_size must be >= 2, got {self.vocab_size}"),
            (self.block_size >= 1, f"block_size must be >= 1, got {self.block_size}"),
            (self.n_layer >= 1 and self.n_head >= 1, "n_layer and n_head must be >= 1"),
            (self.n_embd % self.n_head == 0, f"n_embd={self.n_embd} must be divisible by n_head={self.n_head}"),
            (0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}"),
            (0.0 < self.t_min < 1.0, f"t_min must be in (0, 1), got {self.t_min}"),
            (self.sample_steps is None or self.sample_steps >= 1, f"sample_steps must be >= 1, got {self.sample_steps}"),
            (self.sample_order in ORDERS, f"sample_order must be one of {', '.join(ORDERS)}, got {self.sample_order!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)


@register_model("mdlm")
class MDLM(GenerativeModel):
    config_class = MDLMConfig
    data_kinds = ("text",)
    log_prob_kind = "bound"
    discrete_log_prob = True
    default_budget = {"steps": 3000, "batch_size": 64, "lr": 1e-3}

    def __init__(self, config: MDLMConfig):
        super().__init__(config)
        c = config
        self.mask_id = c.vocab_size  # one embedding row more than the vocabulary
        self.wte = nn.Embedding(c.vocab_size + 1, c.n_embd)
        self.wpe = nn.Embedding(c.block_size, c.n_embd)
        self.h = nn.ModuleList(Block(c.n_embd, c.n_head, 4 * c.n_embd, dropout=c.dropout) for _ in range(c.n_layer))
        self.ln_f = make_norm("layernorm", c.n_embd, 1e-5, True)
        self.head = nn.Linear(c.n_embd, c.vocab_size)
        init_gpt_weights(self, c.n_layer)
        self.tokenizer = None

    @classmethod
    def config_for_data(cls, data, **overrides: Any) -> MDLMConfig:
        return MDLMConfig.from_dict({**token_row_config(data), **overrides})

    @classmethod
    def contract_fixture(cls):
        config = MDLMConfig(vocab_size=7, block_size=6, n_layer=1, n_head=2, n_embd=16)
        start = torch.randint(0, 7, (16, 1), generator=torch.Generator().manual_seed(0))
        return config, (start + torch.arange(6)) % 7  # counting rows

    def attach_data(self, data) -> None:
        self.tokenizer = getattr(data, "tokenizer", None)

    def save_extra(self, path) -> None:
        if self.tokenizer is not None:  # tokenizer.json: samples decode without the training data
            self.tokenizer.save(path)

    def load_extra(self, path) -> None:
        from ..data.tokenizers import Tokenizer
        from .lm_files import TOKENIZER_NAME

        if (Path(path) / TOKENIZER_NAME).is_file():
            self.tokenizer = Tokenizer.from_file(Path(path) / TOKENIZER_NAME)

    # --- the denoiser -------------------------------------------------------------------------
    def forward(self, z: Tensor) -> Tensor:
        """Logits (B, L, V) of x_θ(z) for partly masked rows z (B, L) (MASK = ``mask_id``)."""
        L = z.shape[1]
        h = self.wte(z) + self.wpe(torch.arange(L, device=z.device))
        for block in self.h:
            h = block(h, causal=False)  # bidirectional: every position sees every other
        return self.head(self.ln_f(h))

    def _ids(self, batch) -> Tensor:
        x, _ = unpack_batch(batch)
        if x.dim() != 2 or x.is_floating_point():
            raise DataError(f"mdlm expects (batch, length) integer token ids, got shape {tuple(x.shape)} dtype {x.dtype}")
        if x.shape[1] != self.config.block_size:
            raise DataError(f"mdlm models rows of {self.config.block_size} tokens, got {x.shape[1]}; rebuild it for this data")
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.config.vocab_size):
            raise DataError(f"token ids must be in [0, {self.config.vocab_size}), got [{int(x.min())}, {int(x.max())}]")
        return x.long().to(model_device(self))

    def nelbo(self, x: Tensor, t: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """(B,) one-draw estimate of the NELBO of rows x (B, L) at times t (B,): mask with probability t,
        (1/t) Σ_masked −log x_θ(z_t)[x] (nats per row)."""
        u = torch.rand(x.shape, generator=generator, device=generator.device if generator is not None else x.device)
        masked = u.to(x.device) < t[:, None]
        logits = self(x.masked_fill(masked, self.mask_id))
        nll = F.cross_entropy(logits.transpose(1, 2).float(), x, reduction="none")  # (B, L)
        return (nll * masked).sum(1) / t

    def loss(self, batch) -> dict[str, Tensor]:
        x = self._ids(batch)
        B, L = x.shape
        u = torch.rand((), device=x.device)
        t = self.config.t_min + (1 - self.config.t_min) * ((u + torch.arange(B, device=x.device) / B) % 1.0)
        nelbo = self.nelbo(x, t)
        return {"loss": nelbo.mean() / L}

    @torch.no_grad()
    def log_prob(self, x: Tensor, k: int = 16, generator: torch.Generator | None = None) -> Tensor:
        """−NELBO(x) (≤ log p(x)) averaged over ``k`` stratified draws of t per row; nats per row."""
        x = self._ids(x)
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        total = torch.zeros(len(x), device=x.device)
        for j in range(k):
            u = torch.rand(len(x), generator=generator).to(x.device)
            t = self.config.t_min + (1 - self.config.t_min) * (j + u) / k  # one draw in each of k strata
            total += self.nelbo(x, t, generator)
        return -total / k

    # --- sampling -------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, steps: int | None = None,
               temperature: float = 1.0, order: str | None = None, **kw: Any) -> Tensor:
        """``n`` rows (n, L), ``L / steps`` positions revealed per step (module docstring), in a random order
        per row or, ``order="confidence"``, the still-masked positions whose drawn token is most probable first."""
        if not temperature > 0:
            raise ConfigError(f"temperature must be > 0, got {temperature}")
        order = order or self.config.sample_order
        if order not in ORDERS:
            raise ConfigError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
        L, device = self.config.block_size, model_device(self)
        T = min(int(steps or self.config.sample_steps or L), L)
        gen_device = generator.device if generator is not None else torch.device("cpu")
        rank = torch.rand(n, L, generator=generator, device=gen_device).argsort(1).argsort(1).to(device)
        step_of = rank * T // L  # position j is revealed at step step_of[:, j] (each step reveals L/T a row)
        z = torch.full((n, L), self.mask_id, dtype=torch.long, device=device)
        for k in range(T):
            probs = torch.softmax(self(z).float() / temperature, -1)
            draw = torch.multinomial(probs.flatten(0, 1).to(gen_device), 1, generator=generator).view(n, L).to(device)
            reveal = step_of == k
            if order == "confidence":  # as many as the random order would reveal, the surest first
                confidence = probs.gather(2, draw[..., None])[..., 0].masked_fill(z != self.mask_id, -1.0)
                top = confidence.topk(int(reveal[0].sum()), dim=1).indices
                reveal = torch.zeros_like(reveal).scatter_(1, top, True)
            z = torch.where(reveal, draw, z)
        return z
