"""T5: an encoder–decoder transformer for sequence-to-sequence tasks (Raffel et al., 2020, JMLR).

A source x = (x_1, ..., x_S) is read by a bidirectional encoder; the decoder predicts the target
y = (y_1, ..., y_T) (ending with EOS) one token at a time, attending to its own past and, through
cross-attention, to every encoder state. The conditional likelihood is exact:

    log p(y | x) = Σ_t log p(y_t | y_<t, x),   p(y_t | ·) = softmax(W h_t),

with the decoder fed y shifted right behind ``decoder_start_token_id`` (teacher forcing). ``loss`` is
the mean token NLL over the batch's target tokens; ``log_prob`` is the per-pair sum in nats.

Architecture (transformers' ``modeling_t5``, so checkpoints map 1:1, see ``models/t5_hf.py``):
- one embedding matrix ``shared`` for encoder input, decoder input and (``tie_word_embeddings``,
  T5 v1.0) the output layer, whose input is then rescaled by d_model^-1/2;
- pre-norm blocks with T5's RMSNorm (x / √(mean x² + ε) · g, no mean, no bias), no biases anywhere;
- attention scores q·k + b(j - i) are **not** divided by √d_kv; b is a learned per-head bias of the
  relative position bucket: half the buckets exact offsets, half log-spaced up to
  ``relative_attention_max_distance`` (bidirectional in the encoder, past-only in the decoder). Only
  the first block of each stack owns the table; the other blocks reuse its bias;
- feed-forward ``wo relu(wi x)`` or gated-GELU ``wo (gelu_tanh(wi_0 x) ⊙ wi_1 x)`` (T5 v1.1).

Data: a pair is one packed LongTensor row ``[source (max_source_length) | target (max_target_length)]``,
each part right-padded with ``pad_token_id``; the target ends with EOS. ``split_pair`` unpacks it.
Generation (greedy, sampling, beam search, KV cache for the decoder's self-attention and the
cross-attention keys/values computed once) reuses ``genzoo.generation`` through ``Seq2SeqDecoder``.
Sources longer than ``max_source_length`` (the encoder's context) are truncated with a warning.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError, DataError
from ..generation import GenerationConfig, generate
from ..model import GenerativeModel, ModelConfig
from ..nn.transformer import KVCache, RMSNorm
from ..registry import register_model
from ..utils import model_device, unpack_batch
from .lm_files import LanguageModelFiles

FEED_FORWARD = ("relu", "gated-gelu")


@dataclass
class T5Config(ModelConfig):
    vocab_size: int = 256
    d_model: int = 128
    d_kv: int = 32
    d_ff: int = 512
    num_layers: int = 2
    num_decoder_layers: int | None = None  # default: num_layers
    num_heads: int = 4
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    dropout_rate: float = 0.0
    layer_norm_epsilon: float = 1e-6
    feed_forward_proj: str = "relu"  # "relu" (T5 v1.0) | "gated-gelu" (T5 v1.1)
    tie_word_embeddings: bool = True  # lm_head = shared, input rescaled by d_model**-0.5 (T5 v1.0)
    pad_token_id: int = 0
    eos_token_id: int = 1
    decoder_start_token_id: int = 0
    max_source_length: int = 512  # the encoder's context: longer sources are truncated (with a warning)
    max_target_length: int = 128  # target width of a packed pair; default generation length

    def __post_init__(self):
        checks = [
            (self.vocab_size >= 2, f"vocab_size must be >= 2, got {self.vocab_size}"),
            (min(self.d_model, self.d_kv, self.d_ff, self.num_heads, self.num_layers) >= 1,
             "d_model, d_kv, d_ff, num_heads and num_layers must be >= 1"),
            (self.num_decoder_layers is None or self.num_decoder_layers >= 1, "num_decoder_layers must be >= 1"),
            (self.relative_attention_num_buckets >= 4, "relative_attention_num_buckets must be >= 4"),
            (self.relative_attention_max_distance > self.relative_attention_num_buckets // 4,
             "relative_attention_max_distance must exceed num_buckets/4"),
            (self.feed_forward_proj in FEED_FORWARD, f"feed_forward_proj must be one of {', '.join(FEED_FORWARD)}, got {self.feed_forward_proj!r}"),
            (0.0 <= self.dropout_rate < 1.0, f"dropout_rate must be in [0, 1), got {self.dropout_rate}"),
            (self.max_source_length >= 1 and self.max_target_length >= 1, "max_source_length and max_target_length must be >= 1"),
        ]
        for name in ("pad_token_id", "eos_token_id", "decoder_start_token_id"):
            value = getattr(self, name)
            checks.append((0 <= value < self.vocab_size, f"{name}={value} is outside the vocabulary [0, {self.vocab_size})"))
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    @property
    def decoder_layers(self) -> int:
        return self.num_decoder_layers or self.num_layers


def relative_position_bucket(relative_position: Tensor, bidirectional: bool, num_buckets: int, max_distance: int) -> Tensor:
    """T5's bucket of the offset j - i: exact for |j - i| < num_buckets/4 (/2 one-sided), then log-spaced
    up to ``max_distance``, beyond which every offset shares the last bucket (Mesh TensorFlow)."""
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets = buckets + (relative_position > 0).long() * num_buckets
        relative_position = relative_position.abs()
    else:
        relative_position = -torch.clamp(relative_position, max=0)
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    large = max_exact + (torch.log(relative_position.float() / max_exact) / math.log(max_distance / max_exact)
                         * (num_buckets - max_exact)).long()
    large = torch.clamp(large, max=num_buckets - 1)
    return buckets + torch.where(is_small, relative_position, large)


class T5Attention(nn.Module):
    """Multi-head attention without the 1/√d scaling; ``relative_attention_bias`` in a stack's first block."""

    def __init__(self, c: T5Config, has_relative_bias: bool, bidirectional: bool):
        super().__init__()
        self.n_heads, self.d_kv, self.dropout = c.num_heads, c.d_kv, c.dropout_rate
        inner = c.num_heads * c.d_kv
        self.q = nn.Linear(c.d_model, inner, bias=False)
        self.k = nn.Linear(c.d_model, inner, bias=False)
        self.v = nn.Linear(c.d_model, inner, bias=False)
        self.o = nn.Linear(inner, c.d_model, bias=False)
        self.bidirectional = bidirectional
        self.num_buckets, self.max_distance = c.relative_attention_num_buckets, c.relative_attention_max_distance
        if has_relative_bias:
            self.relative_attention_bias = nn.Embedding(c.relative_attention_num_buckets, c.num_heads)

    def compute_bias(self, q_len: int, k_len: int, past: int = 0) -> Tensor:
        """(1, heads, q_len, k_len) bias b(j - i) for queries at past..past+q_len-1 and keys 0..k_len-1."""
        device = self.relative_attention_bias.weight.device
        rel = torch.arange(k_len, device=device)[None, :] - torch.arange(past, past + q_len, device=device)[:, None]
        bucket = relative_position_bucket(rel, self.bidirectional, self.num_buckets, self.max_distance)
        return self.relative_attention_bias(bucket).permute(2, 0, 1)[None]

    def heads(self, layer: nn.Linear, x: Tensor) -> Tensor:
        return layer(x).view(x.shape[0], x.shape[1], self.n_heads, self.d_kv).transpose(1, 2)

    def forward(self, x: Tensor, bias: Tensor, *, kv: tuple[Tensor, Tensor] | None = None, states: Tensor | None = None,
                cache: KVCache | None = None, layer: int = 0) -> Tensor:
        """Self-attention over ``x`` (through ``cache``), or cross-attention to ``states`` / precomputed ``kv``."""
        B, T, _ = x.shape
        q = self.heads(self.q, x)
        if kv is not None:
            k, v = kv
        else:
            src = x if states is None else states
            k, v = self.heads(self.k, src), self.heads(self.v, src)
            if cache is not None:
                k, v = cache.update(layer, k, v)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), scale=1.0,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.o(y.transpose(1, 2).reshape(B, T, self.n_heads * self.d_kv))


class T5LayerSelfAttention(nn.Module):
    def __init__(self, c: T5Config, has_relative_bias: bool, bidirectional: bool):
        super().__init__()
        self.SelfAttention = T5Attention(c, has_relative_bias, bidirectional)
        self.layer_norm = RMSNorm(c.d_model, c.layer_norm_epsilon)
        self.dropout = nn.Dropout(c.dropout_rate)

    def forward(self, x: Tensor, bias: Tensor, **kw) -> Tensor:
        return x + self.dropout(self.SelfAttention(self.layer_norm(x), bias, **kw))


class T5LayerCrossAttention(nn.Module):
    def __init__(self, c: T5Config):
        super().__init__()
        self.EncDecAttention = T5Attention(c, False, True)
        self.layer_norm = RMSNorm(c.d_model, c.layer_norm_epsilon)
        self.dropout = nn.Dropout(c.dropout_rate)

    def forward(self, x: Tensor, bias: Tensor, **kw) -> Tensor:
        return x + self.dropout(self.EncDecAttention(self.layer_norm(x), bias, **kw))


class T5DenseReluDense(nn.Module):
    """``wo relu(wi x)`` or, gated, ``wo (gelu_tanh(wi_0 x) * wi_1 x)``; names as transformers'."""

    def __init__(self, c: T5Config):
        super().__init__()
        self.gated = c.feed_forward_proj == "gated-gelu"
        if self.gated:
            self.wi_0 = nn.Linear(c.d_model, c.d_ff, bias=False)
            self.wi_1 = nn.Linear(c.d_model, c.d_ff, bias=False)
        else:
            self.wi = nn.Linear(c.d_model, c.d_ff, bias=False)
        self.wo = nn.Linear(c.d_ff, c.d_model, bias=False)
        self.dropout = nn.Dropout(c.dropout_rate)

    def forward(self, x: Tensor) -> Tensor:
        h = F.gelu(self.wi_0(x), approximate="tanh") * self.wi_1(x) if self.gated else F.relu(self.wi(x))
        return self.wo(self.dropout(h))


class T5LayerFF(nn.Module):
    def __init__(self, c: T5Config):
        super().__init__()
        self.DenseReluDense = T5DenseReluDense(c)
        self.layer_norm = RMSNorm(c.d_model, c.layer_norm_epsilon)
        self.dropout = nn.Dropout(c.dropout_rate)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.dropout(self.DenseReluDense(self.layer_norm(x)))


class T5Block(nn.Module):
    """``layer``: self-attention, (decoder) cross-attention, feed-forward, each pre-norm and residual."""

    def __init__(self, c: T5Config, first: bool, decoder: bool):
        super().__init__()
        parts = [T5LayerSelfAttention(c, first, bidirectional=not decoder)]
        if decoder:
            parts.append(T5LayerCrossAttention(c))
        parts.append(T5LayerFF(c))
        self.layer = nn.ModuleList(parts)


class T5Stack(nn.Module):
    """Encoder or decoder stack; the token embedding is the model's ``shared`` one, passed in."""

    def __init__(self, c: T5Config, decoder: bool):
        super().__init__()
        n = c.decoder_layers if decoder else c.num_layers
        self.block = nn.ModuleList(T5Block(c, i == 0, decoder) for i in range(n))
        self.final_layer_norm = RMSNorm(c.d_model, c.layer_norm_epsilon)
        self.dropout = nn.Dropout(c.dropout_rate)

    def relative_bias(self, q_len: int, k_len: int, past: int = 0) -> Tensor:
        return self.block[0].layer[0].SelfAttention.compute_bias(q_len, k_len, past)


def additive_mask(allowed: Tensor, dtype: torch.dtype) -> Tensor:
    """0 where attention is allowed, the dtype's lowest value elsewhere (as transformers adds it)."""
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, torch.finfo(dtype).min)


class T5Cache(KVCache):
    """The decoder's self-attention KV cache plus each layer's cross-attention keys/values (computed once).

    Beam search reorders rows within a batch item only, whose encoder states are the same, so
    ``reorder`` leaves the cross-attention keys/values as they are."""

    def __init__(self, model: "T5", batch: int, max_len: int, enc: Tensor, enc_mask: Tensor):
        c, p = model.config, model.shared.weight
        super().__init__(c.decoder_layers, batch, c.num_heads, max_len, c.d_kv, p.dtype, p.device)
        self.cross = [(blk.layer[1].EncDecAttention.heads(blk.layer[1].EncDecAttention.k, enc),
                       blk.layer[1].EncDecAttention.heads(blk.layer[1].EncDecAttention.v, enc))
                      for blk in model.decoder.block]
        self.cross_bias = additive_mask(enc_mask[:, None, None, :], enc.dtype)


@register_model("t5")
class T5(LanguageModelFiles, GenerativeModel):
    config_class = T5Config
    hf_module = ".t5_hf"
    data_kinds = ("seq2seq",)
    log_prob_kind = "exact"
    discrete_log_prob = True
    default_budget = {"steps": 2000, "batch_size": 32, "lr": 1e-3}
    #: pystdlib-summaries on a CPU: ~237k parameters, 2000 x 16 pairs, ~0.15 CPU-s a step on one thread
    #: (benchmarks/code_summarization.py)
    kind_defaults = {"seq2seq": {"budget": {"steps": 2000, "batch_size": 16, "lr": 2e-3, "ema_decay": None},
                                 "config": {"d_model": 64, "d_kv": 16, "d_ff": 256, "num_heads": 4, "num_layers": 2}}}

    def __init__(self, config: T5Config):
        super().__init__(config)
        c = config
        self.shared = nn.Embedding(c.vocab_size, c.d_model)
        self.encoder = T5Stack(c, decoder=False)
        self.decoder = T5Stack(c, decoder=True)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        self._init_weights()
        if c.tie_word_embeddings:
            self.lm_head.weight = self.shared.weight
        self.tokenizer = None
        self.generation_config = GenerationConfig(eos_token_id=c.eos_token_id, pad_token_id=c.pad_token_id,
                                                  max_new_tokens=c.max_target_length)

    def _init_weights(self) -> None:
        """transformers' T5 initialisation (Mesh TensorFlow): N(0, 1) embeddings, fan-in scaled projections."""
        c = self.config
        nn.init.normal_(self.shared.weight, std=1.0)
        nn.init.normal_(self.lm_head.weight, std=1.0)
        for m in self.modules():
            if isinstance(m, T5Attention):
                nn.init.normal_(m.q.weight, std=(c.d_model * c.d_kv) ** -0.5)
                for w in (m.k.weight, m.v.weight):
                    nn.init.normal_(w, std=c.d_model ** -0.5)
                nn.init.normal_(m.o.weight, std=(c.num_heads * c.d_kv) ** -0.5)
                if hasattr(m, "relative_attention_bias"):
                    nn.init.normal_(m.relative_attention_bias.weight, std=c.d_model ** -0.5)
            elif isinstance(m, T5DenseReluDense):
                for name in ("wi", "wi_0", "wi_1"):
                    if hasattr(m, name):
                        nn.init.normal_(getattr(m, name).weight, std=c.d_model ** -0.5)
                nn.init.normal_(m.wo.weight, std=c.d_ff ** -0.5)

    # --- building -------------------------------------------------------------------------
    @classmethod
    def config_for_data(cls, data, **overrides: Any) -> T5Config:
        values: dict[str, Any] = {}
        info = getattr(data, "info", {}) if data is not None else {}
        if data is not None and data.vocab_size is not None:
            values["vocab_size"] = data.vocab_size
        for key in ("max_source_length", "max_target_length", "pad_token_id", "eos_token_id", "decoder_start_token_id"):
            if key in info:
                values[key] = info[key]
        return cls.config_class.from_dict({**values, **overrides})

    @classmethod
    def contract_fixture(cls):
        config = T5Config(vocab_size=12, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2,
                          relative_attention_num_buckets=8, relative_attention_max_distance=16,
                          max_source_length=6, max_target_length=5)
        src = torch.randint(2, 12, (16, 6), generator=torch.Generator().manual_seed(0))
        tgt = torch.cat([src[:, :4].flip(1), torch.ones(16, 1, dtype=torch.long)], 1)  # reverse 4 tokens, EOS
        return config, torch.cat([src, tgt], 1)

    # --- the network ----------------------------------------------------------------------
    def encode(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Encoder states (B, S, d_model) of source ids (B, S); ``attention_mask`` 1 for real tokens."""
        enc = self.encoder
        S = input_ids.shape[1]
        bias = enc.relative_bias(S, S)
        if attention_mask is not None:
            bias = bias + additive_mask(attention_mask.bool()[:, None, None, :], bias.dtype)
        x = enc.dropout(self.shared(input_ids))
        for blk in enc.block:
            x = blk.layer[0](x, bias)
            x = blk.layer[-1](x)
        return enc.dropout(enc.final_layer_norm(x))

    def decode(self, decoder_input_ids: Tensor, enc: Tensor | None = None, enc_mask: Tensor | None = None, *,
               cache: T5Cache | None = None, last_only: bool = False) -> Tensor:
        """Logits (B, T, V) of the decoder on ``decoder_input_ids`` given encoder states (or a ``cache``)."""
        dec = self.decoder
        B, T = decoder_input_ids.shape
        past = cache.length if cache is not None else 0
        bias = dec.relative_bias(T, past + T, past)
        if T > 1:  # causal: query past+i sees keys <= past+i
            q = torch.arange(past, past + T, device=bias.device)[:, None]
            bias = bias + additive_mask(torch.arange(past + T, device=bias.device)[None, :] <= q, bias.dtype)
        if cache is not None:
            cross_bias = cache.cross_bias
        else:
            mask = enc_mask if enc_mask is not None else torch.ones(enc.shape[:2], dtype=torch.bool, device=enc.device)
            cross_bias = additive_mask(mask.bool()[:, None, None, :], enc.dtype)
        x = dec.dropout(self.shared(decoder_input_ids))
        for i, blk in enumerate(dec.block):
            x = blk.layer[0](x, bias, cache=cache, layer=i)
            x = blk.layer[1](x, cross_bias, kv=cache.cross[i] if cache is not None else None, states=enc)
            x = blk.layer[2](x)
        if cache is not None:
            cache.length += T
        x = dec.dropout(dec.final_layer_norm(x[:, -1:] if last_only else x))
        if self.config.tie_word_embeddings:
            x = x * self.config.d_model ** -0.5
        return self.lm_head(x)

    def forward(self, input_ids: Tensor, decoder_input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Logits (B, T, V), as ``T5ForConditionalGeneration(input_ids, attention_mask, decoder_input_ids).logits``."""
        return self.decode(decoder_input_ids, self.encode(input_ids, attention_mask), attention_mask)

    def shift_right(self, labels: Tensor) -> Tensor:
        start = labels.new_full((labels.shape[0], 1), self.config.decoder_start_token_id)
        return torch.cat([start, labels[:, :-1]], 1)

    # --- pairs ----------------------------------------------------------------------------
    def split_pair(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """A packed batch (B, S + T) -> source ids, source mask, target ids, target mask (masks: not pad)."""
        c = self.config
        if x.dim() != 2 or x.is_floating_point():
            raise DataError(f"t5 expects packed (batch, source + target) integer ids, got shape {tuple(x.shape)} dtype {x.dtype}")
        width = c.max_source_length + c.max_target_length
        if x.shape[1] != width:
            raise DataError(f"a packed pair row has {x.shape[1]} ids; this model reads max_source_length + max_target_length "
                            f"= {c.max_source_length} + {c.max_target_length} = {width}")
        if x.numel() and not torch._C._functorch.is_functorch_wrapped_tensor(x) and (int(x.min()) < 0 or int(x.max()) >= c.vocab_size):
            raise DataError(f"token ids must be in [0, {c.vocab_size}); got [{int(x.min())}, {int(x.max())}] — "
                            "was the data encoded with another tokenizer?")
        x = x.long()
        src, tgt = x[:, :c.max_source_length], x[:, c.max_source_length:]
        return src, src != c.pad_token_id, tgt, tgt != c.pad_token_id

    def pack(self, source: Tensor, target: Tensor) -> Tensor:
        """Source (B, ≤S) and target (B, ≤T) ids -> packed rows (B, S + T), right-padded."""
        c = self.config
        out = torch.full((source.shape[0], c.max_source_length + c.max_target_length), c.pad_token_id,
                         dtype=torch.long, device=source.device)
        out[:, :min(source.shape[1], c.max_source_length)] = source[:, :c.max_source_length]
        out[:, c.max_source_length:c.max_source_length + min(target.shape[1], c.max_target_length)] = target[:, :c.max_target_length]
        return out

    def token_log_probs(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T) log p(y_t | y_<t, x) by teacher forcing, and the target mask."""
        src, src_mask, tgt, tgt_mask = self.split_pair(x)
        if not torch._C._functorch.is_functorch_wrapped_tensor(x):  # drop the batch's all-padding columns: same numbers
            s, t = max(1, int(src_mask.sum(1).max())), max(1, int(tgt_mask.sum(1).max()))
            src, src_mask, tgt, tgt_mask = src[:, :s], src_mask[:, :s], tgt[:, :t], tgt_mask[:, :t]
        logits = self(src, self.shift_right(tgt), src_mask)
        lp = -F.cross_entropy(logits.float().transpose(1, 2), tgt, reduction="none")
        return lp * tgt_mask, tgt_mask

    # --- the contract ---------------------------------------------------------------------
    def loss(self, batch) -> dict[str, Tensor]:
        x, _ = unpack_batch(batch)
        lp, mask = self.token_log_probs(x)
        n = mask.sum().clamp(min=1)
        return {"loss": -lp.sum() / n, "nll_per_pair": -lp.sum(1).mean().detach()}

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log p(y | x) in nats per packed pair (sum over target tokens, EOS included)."""
        return self.token_log_probs(x)[0].sum(1)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, source: Tensor | None = None,
               temperature: float = 1.0, top_k: int | None = None, top_p: float = 1.0, **kw: Any) -> Tensor:
        """n packed pairs: targets y ~ p(y | x) drawn for ``source`` ids (n, ≤S), or, with no source, for the
        one-token source [EOS] (the model's unconditional-ish prior)."""
        c = self.config
        device = model_device(self)
        if source is None:
            source = torch.full((n, 1), c.eos_token_id, dtype=torch.long, device=device)
        source = source.to(device)
        out = self.generate(source, (source != c.pad_token_id).long(), generator=generator, do_sample=True,
                            temperature=temperature, top_k=top_k, top_p=top_p, max_new_tokens=c.max_target_length, **kw)
        return self.pack(source, out[:, 1:])

    def generate(self, input_ids: Tensor, attention_mask: Tensor | None = None, **kw: Any) -> Tensor:
        """transformers-style ``generate``: decoder ids (B * num_return_sequences, 1 + new), starting with
        ``decoder_start_token_id``. Greedy, sampling or beam search (``num_beams``, ``length_penalty``,
        ``early_stopping``) as ``genzoo.generation.generate``; sources past the context are truncated."""
        if input_ids.dim() == 1:
            input_ids = input_ids[None]
            attention_mask = None if attention_mask is None else attention_mask[None]
        if input_ids.dim() != 2 or input_ids.is_floating_point() or input_ids.shape[1] == 0:
            raise DataError(f"input_ids must be a non-empty (batch, length) integer tensor, got shape {tuple(input_ids.shape)}")
        input_ids, attention_mask = self.truncate(input_ids, attention_mask)
        if int(input_ids.min()) < 0 or int(input_ids.max()) >= self.config.vocab_size:
            raise DataError(f"token ids must be in [0, {self.config.vocab_size}); was the source encoded with another tokenizer?")
        mask = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
        with torch.inference_mode():
            enc = self.encode(input_ids, mask)
        gc = kw.pop("generation_config", None) or self.generation_config
        max_new = kw.get("max_new_tokens") or gc.max_new_tokens
        view = Seq2SeqDecoder(self, enc, mask, max_new)
        start = input_ids.new_full((input_ids.shape[0], 1), self.config.decoder_start_token_id)
        return generate(view, start, None, gc, **kw)

    def truncate(self, input_ids: Tensor, attention_mask: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """Sources longer than the encoder's context keep their first ``max_source_length`` tokens (warned)."""
        S = self.config.max_source_length
        if input_ids.shape[1] <= S:
            return input_ids, attention_mask
        warnings.warn(f"genzoo: a source of {input_ids.shape[1]} tokens exceeds the encoder's context of {S} "
                      f"(max_source_length); it is truncated to its first {S} tokens", stacklevel=3)
        return input_ids[:, :S], None if attention_mask is None else attention_mask[:, :S]
    # persistence (tokenizer.json, generation_config.json, save_pretrained(format="hf")): models/lm_files.py

class Seq2SeqDecoder:
    """A T5 decoder bound to a batch's encoder states, seen by ``genzoo.generation.generate`` as a
    decoder-only model (``forward``, ``new_cache``, ``config.block_size``/``vocab_size``). Rows
    repeated for beams or ``num_return_sequences`` get their source's encoder states."""

    def __init__(self, model: T5, enc: Tensor, enc_mask: Tensor, max_new_tokens: int):
        self.model, self.enc, self.enc_mask = model, enc, enc_mask
        self.config = SimpleNamespace(vocab_size=model.config.vocab_size, block_size=1 + max_new_tokens)
        self.generation_config, self.tokenizer = model.generation_config, model.tokenizer

    def _states(self, batch: int) -> tuple[Tensor, Tensor]:
        rep = batch // self.enc.shape[0]
        return self.enc.repeat_interleave(rep, 0), self.enc_mask.repeat_interleave(rep, 0)

    def new_cache(self, batch: int, max_len: int) -> T5Cache:
        return T5Cache(self.model, batch, max_len, *self._states(batch))

    def __call__(self, ids: Tensor, attention_mask: Tensor | None = None, position_ids: Tensor | None = None,
                 cache: T5Cache | None = None, last_only: bool = False) -> Tensor:
        if cache is not None:
            return self.model.decode(ids, cache=cache, last_only=last_only)
        return self.model.decode(ids, *self._states(ids.shape[0]), last_only=last_only)
