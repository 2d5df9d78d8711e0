"""GPT: a decoder-only transformer language model (Radford et al., 2018/2019; after nanoGPT).

A sequence x = (x_0, ..., x_{T-1}) of token ids has the exact autoregressive likelihood

    log p(x) = log p(x_0) + Σ_{t=1}^{T-1} log p(x_t | x_<t),

where p(x_t | x_<t) = softmax(W_e h_{t-1}) and h = Transformer(embed(x)) is causal (position t only
sees positions ≤ t). The first token has no context; it gets its own learned distribution
p(x_0) = softmax(b_0) (``first_token_logits``), so ``log_prob`` is a probability mass over all
length-T sequences and ``nll = -log_prob / T`` is nats per token, first token included. The
training loss is that same quantity averaged over the batch; ``next_token_nll`` (logged) leaves the
first token out, which is what transformers' GPT-2 loss reports.

Architecture (GPT-2): token + learned position embeddings, n_layer pre-LN blocks
(``genzoo.nn.transformer.Block``), a final LayerNorm, an LM head tied to the token embedding.
Options: ``position="rope"`` (rotary), ``norm="rmsnorm"``, ``activation="swiglu"``, dropout.
Parameter names follow transformers' GPT-2 (``transformer.h.0.attn.c_attn.weight`` ...), so
``genzoo.models.gpt_hf`` converts checkpoints in both directions by transposing Conv1D weights.

Generation (``generate``; KV cache, left padding, EOS / stop strings, streamers) lives in
``genzoo.generation``; decoding strategies in ``genzoo.samplers.decoding``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError, DataError
from ..generation import GenerationConfig, generate
from ..model import GenerativeModel, ModelConfig
from ..nn.batch_expand import BatchExpand
from ..nn.decode_step import DecodeStep
from ..nn.quantized import DECODE_LINEARS, choose_decode_kernels_, swap_linears_
from ..nn.transformer import Block, KVCache, Rotary, init_gpt_weights, make_norm
from ..nn.transformer import attention_mask as build_attention_mask
from ..registry import register_model
from ..utils import model_device, unpack_batch
from .lm_files import LanguageModelFiles, token_row_config



@dataclass
class GPTConfig(ModelConfig):
    vocab_size: int = 256
    block_size: int = 128
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    n_inner: int | None = None  # MLP width; default 4 n_embd (GELU) or 8/3 n_embd (SwiGLU)
    dropout: float = 0.0
    bias: bool = True
    norm: str = "layernorm"  # "layernorm" | "rmsnorm"
    norm_eps: float = 1e-5
    activation: str = "gelu_tanh"  # "gelu_tanh" (GPT-2) | "gelu" | "swiglu"
    position: str = "learned"  # "learned" | "rope"
    rope_base: float = 10000.0
    tie_embeddings: bool = True
    pad_token_id: int | None = None  # targets equal to it are padding: left out of loss and log_prob

    def __post_init__(self):
        checks = [
            (self.vocab_size >= 2, f"vocab_size must be >= 2, got {self.vocab_size}"),
            (self.block_size >= 2, f"block_size must be >= 2, got {self.block_size}"),
            (self.n_layer >= 1 and self.n_head >= 1, "n_layer and n_head must be >= 1"),
            (self.n_embd % self.n_head == 0, f"n_embd={self.n_embd} must be divisible by n_head={self.n_head}"),
            (self.norm in ("layernorm", "rmsnorm"), f"norm must be 'layernorm' or 'rmsnorm', got {self.norm!r}"),
            (self.activation in ("gelu_tanh", "gelu", "swiglu"), f"activation must be gelu_tanh, gelu or swiglu, got {self.activation!r}"),
            (self.position in ("learned", "rope"), f"position must be 'learned' or 'rope', got {self.position!r}"),
            (self.position != "rope" or (self.n_embd // self.n_head) % 2 == 0, "position='rope' needs an even head size n_embd/n_head"),
            (0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    @property
    def mlp_width(self) -> int:
        if self.n_inner:
            return self.n_inner
        return 4 * self.n_embd if self.activation != "swiglu" else int(8 * self.n_embd / 3 + 63) // 64 * 64


@register_model("gpt")
class GPT(LanguageModelFiles, GenerativeModel):
    config_class = GPTConfig
    hf_module = ".gpt_hf"
    data_kinds = ("text",)
    log_prob_kind = "exact"
    discrete_log_prob = True
    default_budget = {"steps": 3000, "batch_size": 64, "lr": 1e-3}
    #: cached one-token steps run ``genzoo.nn.decode_step.DecodeStep`` (same numbers, less overhead)
    fast_decode: bool = True
    #: output-row blocks of the plain linear products in that step: None, the faster of 1 (``addmm``)
    #: and the thread count, timed once per process (``genzoo.nn.decode_kernels``); or a number
    decode_split: int | None = None

    def __init__(self, config: GPTConfig):
        super().__init__(config)
        c = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(c.vocab_size, c.n_embd),
            drop=nn.Dropout(c.dropout),
            h=nn.ModuleList(Block(c.n_embd, c.n_head, c.mlp_width, norm=c.norm, eps=c.norm_eps,
                                  activation=c.activation, bias=c.bias, dropout=c.dropout) for _ in range(c.n_layer)),
            ln_f=make_norm(c.norm, c.n_embd, c.norm_eps, c.bias),
        ))
        if c.position == "learned":
            self.transformer["wpe"] = nn.Embedding(c.block_size, c.n_embd)
        self.rotary = Rotary(c.n_embd // c.n_head, c.block_size, c.rope_base) if c.position == "rope" else None
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.first_token_logits = nn.Parameter(torch.zeros(c.vocab_size))
        self.first_token = BatchExpand()  # per-example rows of its gradient, for DP-SGD's ghost clipping
        init_gpt_weights(self, c.n_layer)
        if c.tie_embeddings:
            self.lm_head.weight = self.transformer.wte.weight
        self.tokenizer = None
        self.generation_config = GenerationConfig()

    # --- building -------------------------------------------------------------------------
    @classmethod
    def config_for_data(cls, data, **overrides: Any) -> GPTConfig:
        values = token_row_config(data)
        if data is not None and data.info.get("pad_token_id") is not None:  # padded one-example rows (data.molecules)
            values["pad_token_id"] = int(data.info["pad_token_id"])
        return cls.config_class.from_dict({**values, **overrides})

    @classmethod
    def contract_fixture(cls):
        config = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16)
        start = torch.randint(0, 11, (16, 1), generator=torch.Generator().manual_seed(0))
        batch = (start + torch.arange(8)) % 11  # counting sequences: easy to learn
        return config, batch

    # --- the network ----------------------------------------------------------------------
    def forward(self, idx: Tensor, *, attention_mask: Tensor | None = None, position_ids: Tensor | None = None,
                cache: KVCache | None = None, last_only: bool = False) -> Tensor:
        """Logits (B, T, V) for token ids (B, T); ``last_only`` returns (B, 1, V).

        ``attention_mask`` (B, past + T), 1 for real tokens, 0 for (left) padding; position ids
        default to ``cumsum(mask) - 1`` so every row counts from its first real token.
        """
        B, T = idx.shape
        past = cache.length if cache is not None else 0
        prefix = self._virtual_tokens(B) if past == 0 else None  # prompt tuning: at the first call only
        n_virtual = prefix.shape[1] if prefix is not None else 0
        if past + n_virtual + T > self.config.block_size:
            raise DataError(f"sequence of {past + n_virtual + T} tokens exceeds the context of {self.config.block_size}; shorten it")
        if n_virtual or (past and self._virtual_tokens(0) is not None):  # masks count the virtual tokens too
            T_total = past + n_virtual + T
            if attention_mask is not None and attention_mask.shape[1] < T_total:
                ones = attention_mask.new_ones(B, T_total - attention_mask.shape[1])
                attention_mask = torch.cat([ones, attention_mask], 1)
            if position_ids is not None:
                position_ids = position_ids + self._virtual_tokens(0).shape[1]
                if n_virtual:
                    position_ids = torch.cat([torch.arange(n_virtual, device=idx.device).expand(B, -1), position_ids], 1)
            T = n_virtual + T
        key_valid = None
        if attention_mask is not None:
            key_valid = attention_mask.bool()
            if bool(key_valid[:, : past + T].all()):
                key_valid = None
        if position_ids is None and key_valid is not None:
            position_ids = (key_valid[:, : past + T].long().cumsum(-1) - 1).clamp(min=0)[:, past:]
        mask = build_attention_mask(key_valid, past, T, past + T) if (key_valid is not None or past) else None
        if cache is not None and T == 1 and self.fast_decode and not torch.is_grad_enabled():
            step = self._decode_step(cache)
            if step is not None:  # the same ops as below with less per-token overhead (genzoo.nn.decode_step)
                return step(idx, position_ids, mask)
        if position_ids is None:
            position_ids = torch.arange(past, past + T, device=idx.device)[None]
        x = self.transformer.wte(idx)
        if prefix is not None:
            x = torch.cat([prefix.to(x.dtype), x], 1)
        rotary = None
        if self.rotary is not None:
            rotary = self.rotary(position_ids)
        else:
            x = x + self.transformer.wpe(position_ids.expand(B, -1))  # per-example rows (DP ghost clipping)
        x = self.transformer.drop(x)
        for i, block in enumerate(self.transformer.h):
            x = block(x, rotary=rotary, mask=mask, cache=cache, layer=i)
        if cache is not None:
            cache.length += T
        x = self.transformer.ln_f(x[:, -1:] if last_only else x[:, n_virtual:])
        return self.lm_head(x)

    def _virtual_tokens(self, batch: int) -> Tensor | None:
        """Prompt-tuning embeddings (batch, n, C) put before the sequence, or None
        (``genzoo.finetune.prompt_tuning`` wraps ``wte`` with a ``virtual_tokens`` method)."""
        virtual = getattr(self.transformer.wte, "virtual_tokens", None)
        return virtual(batch) if virtual is not None else None

    def _decode_step(self, cache: KVCache) -> DecodeStep | None:
        """The one-token decoding step for this cache, built on first use; None where it does not apply
        (training, forward hooks set, blocks replaced): then the module path runs."""
        if cache.decode_step is None:
            cache.decode_step = DecodeStep(self, cache) if DecodeStep.supports(self) else False
        return cache.decode_step or None

    def new_cache(self, batch: int, max_len: int) -> KVCache:
        c = self.config
        prefix = self._virtual_tokens(0)
        max_len += prefix.shape[1] if prefix is not None else 0  # prompt tuning's virtual tokens
        p = self.first_token_logits  # (the embedding may be wrapped by an adapter)
        dtype = p.dtype if p.is_floating_point() else torch.float32
        return KVCache(c.n_layer, batch, c.n_head, max_len, c.n_embd // c.n_head, dtype, p.device)

    # --- the contract ---------------------------------------------------------------------
    def _check_ids(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.is_floating_point():
            raise DataError(f"GPT expects (batch, length) integer token ids, got shape {tuple(x.shape)} dtype {x.dtype}")
        # under torch.func.vmap (DP-SGD's per-example gradients) ids cannot be read: the whole batch was checked
        if x.numel() and not torch._C._functorch.is_functorch_wrapped_tensor(x) and (
                int(x.min()) < 0 or int(x.max()) >= self.config.vocab_size):
            raise DataError(f"token ids must be in [0, {self.config.vocab_size}); got [{int(x.min())}, {int(x.max())}] — "
                            "was the data encoded with another tokenizer?")
        return x.long()

    def token_log_probs(self, x: Tensor) -> Tensor:
        """(B, T) log p(x_t | x_<t), with log p(x_0) from ``first_token_logits`` in column 0; 0 at
        padding targets (``pad_token_id``), so sums are the log-probability of the unpadded rows."""
        x = self._check_ids(x)
        logits = self(x[:, :-1]) if x.shape[1] > 1 else None
        first = F.log_softmax(self.first_token(self.first_token_logits, len(x)).float(), dim=-1).gather(1, x[:, :1])
        if logits is None:
            return first
        rest = -F.cross_entropy(logits.float().transpose(1, 2), x[:, 1:], reduction="none")
        lp = torch.cat([first, rest], dim=1)
        return lp if self.config.pad_token_id is None else lp.masked_fill(x == self.config.pad_token_id, 0.0)

    def loss(self, batch) -> dict[str, Tensor]:
        x, _ = unpack_batch(batch)
        if self.config.pad_token_id is not None and x.ndim == 2 and x.shape[1] > 1:
            # columns after the batch's last real token are padding in every row: they add no loss and
            # causal attention never looks ahead, so cutting them is exact (MOSES rows: 64 ids, ~40 real)
            real_columns = (x != self.config.pad_token_id).any(0).nonzero()
            if len(real_columns):
                x = x[:, :int(real_columns.max()) + 1]
        lp = self.token_log_probs(x)
        if self.config.pad_token_id is not None:  # the mean over real (non-padding) tokens
            real = (x != self.config.pad_token_id).float()
            loss = -lp.sum() / real.sum().clamp_min(1)
            nll = -lp[:, 1:].sum() / real[:, 1:].sum().clamp_min(1) if lp.shape[1] > 1 else loss
            return {"loss": loss, "next_token_nll": nll.detach()}
        loss = -lp.mean()
        return {"loss": loss, "next_token_nll": -lp[:, 1:].mean().detach() if lp.shape[1] > 1 else loss.detach()}

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log p(x) in nats per sequence (first token included, see the module docstring)."""
        return self.token_log_probs(x).sum(dim=1)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, length: int | None = None,
               temperature: float = 1.0, top_k: int | None = None, top_p: float = 1.0, **kw: Any) -> Tensor:
        """n sequences of ``length`` (default block_size) tokens: x_0 ~ p(x_0), then ancestral sampling."""
        length = self.config.block_size if length is None else length
        if not 1 <= length <= self.config.block_size:
            raise ConfigError(f"length must be in [1, {self.config.block_size}], got {length}")
        device = model_device(self)
        probs = F.softmax(self.first_token_logits.float(), dim=-1).expand(n, -1)
        gen_device = generator.device if generator is not None else torch.device("cpu")
        first = torch.multinomial(probs.to(gen_device), 1, generator=generator).to(device)
        return generate(self, first, None, GenerationConfig(), generator=generator, max_new_tokens=length - 1, do_sample=True,
                        temperature=temperature, top_k=top_k, top_p=top_p, eos_token_id=None, **kw)

    def generate(self, input_ids: Tensor, attention_mask: Tensor | None = None, **kw: Any) -> Tensor:
        """transformers-style ``generate``; see ``genzoo.generation.generate`` for the options."""
        return generate(self, input_ids, attention_mask, **kw)

    # --- speed options --------------------------------------------------------------------
    def quantize(self, mode: str = "int8") -> "GPT":
        """Inference-only weight formats, in place (the model can no longer be trained or saved):

        "fp32" (same numbers, weights stored (in, out) for fast batch-1 matrix-vector products),
        "bf16", "int8" (weight-only, per-row scales), "int8-dynamic" (int8 weights and per-call
        int8 activations, fbgemm). Where a format has two equivalent products (split-K or one
        ``addmm``; int8 digits or bf16 activations), the faster on this machine is timed and kept.
        See ``genzoo.nn.quantized`` and docs/gpt.md.
        """
        if mode == "bf16":
            return self.to(torch.bfloat16).eval()
        if mode not in DECODE_LINEARS:
            raise ConfigError(f"quantize mode must be one of bf16, {', '.join(DECODE_LINEARS)}; got {mode!r}")
        if self.config.tie_embeddings:  # the head gets its own copy; the embedding lookup stays as it is
            self.lm_head = nn.Linear(self.config.n_embd, self.config.vocab_size, bias=False)
            self.lm_head.weight = nn.Parameter(self.transformer.wte.weight.detach().clone())
        swap_linears_(self.transformer.h, DECODE_LINEARS[mode])
        self.lm_head = DECODE_LINEARS[mode](self.lm_head)
        choose_decode_kernels_(self)  # of the equivalent products, the one that decodes faster on this machine
        return self.eval()

    # --- persistence (tokenizer.json, generation_config.json, format="hf": models/lm_files.py) --
    @classmethod
    def from_pretrained(cls, path, **kw: Any) -> "GPT":
        """Load a genzoo GPT directory or a Hugging Face GPT-2 directory."""
        from .gpt_hf import is_hf_dir, load_hf

        if is_hf_dir(path):
            return load_hf(path, **kw)
        return super().from_pretrained(path, **kw)
