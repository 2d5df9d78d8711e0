"""Decoder-only transformer blocks: causal self-attention with a preallocated KV cache, MLP/SwiGLU,
LayerNorm/RMSNorm and rotary positions (the inference-only linear layers of ``GPT.quantize`` are in
``genzoo.nn.quantized``).

Attention (Vaswani et al., 2017), one head:  Attn(Q, K, V) = softmax(Q Kᵀ / √d + M) V, where the mask M
is 0 where a query may look (key position ≤ query position and key not padding) and -∞ elsewhere.
It runs through ``torch.nn.functional.scaled_dot_product_attention``.

Pre-LN block (GPT-2, Radford et al., 2019):  h = x + Attn(LN(x));  y = h + MLP(LN(h)).
MLP: W₂ GELU(W₁ x) (GPT-2 uses the tanh approximation of GELU); SwiGLU (Shazeer, 2020):
W₂ (SiLU(W₁ x) ⊙ W₃ x).  RMSNorm (Zhang & Sennrich, 2019): x / √(mean(x²) + ε) · g.
RoPE (Su et al., 2021): rotate each pair of query/key features (x₁, x₂) of frequency
θᵢ = base^(-2i/d) by the angle p·θᵢ at position p, so q·k depends only on the offset between positions.

KV cache: keys and values of every layer live in one tensor allocated once per ``generate`` call,
shape (layers, batch, heads, max_len, head_dim); step t writes slot t in place and attends to
slots [0, t]. Nothing is reallocated per token.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


def make_norm(kind: str, dim: int, eps: float, bias: bool) -> nn.Module:
    if kind == "layernorm":
        return nn.LayerNorm(dim, eps=eps, bias=bias)
    if kind == "rmsnorm":
        return RMSNorm(dim, eps=eps)
    raise ValueError(f"unknown norm {kind!r}")


class Rotary(nn.Module):
    """Rotary position embedding tables: ``cos, sin`` of shape (B, 1, T, head_dim) for position ids."""

    def __init__(self, head_dim: int, max_len: int, base: float = 10000.0):
        super().__init__()
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        angles = torch.outer(torch.arange(max_len, dtype=torch.float32), inv_freq)  # (max_len, d/2)
        angles = torch.cat([angles, angles], dim=-1)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, position_ids: Tensor) -> tuple[Tensor, Tensor]:
        return self.cos[position_ids].unsqueeze(1), self.sin[position_ids].unsqueeze(1)


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate feature pairs (x[i], x[i + d/2]) (the "rotate half" layout of GPT-NeoX / Llama)."""
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos.to(x.dtype) + torch.cat([-x2, x1], dim=-1) * sin.to(x.dtype)


class KVCache:
    """Preallocated keys/values for all layers; the first ``length`` slots are filled."""

    def __init__(self, n_layer: int, batch: int, n_head: int, max_len: int, head_dim: int,
                 dtype: torch.dtype, device: torch.device | str):
        shape = (n_layer, batch, n_head, max_len, head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        self.k_layers, self.v_layers = self.k.unbind(0), self.v.unbind(0)  # per-layer views, made once
        self.max_len = max_len
        self.length = 0
        self.decode_step = None  # set by the model on the first one-token step (genzoo.nn.decode_step)

    def update(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Write this step's keys/values at ``[length, length + T)``; return all keys/values so far."""
        start, end = self.length, self.length + k.shape[2]
        keys, values = self.k_layers[layer], self.v_layers[layer]
        keys[:, :, start:end] = k
        values[:, :, start:end] = v
        return keys[:, :, :end], values[:, :, :end]

    def reorder(self, index: Tensor) -> None:
        """Keep rows ``index`` (beam search: each beam continues from its parent), in place so views stay valid."""
        self.k.copy_(self.k.index_select(1, index))
        self.v.copy_(self.v.index_select(1, index))


def attention_mask(key_valid: Tensor | None, start: int, q_len: int, k_len: int) -> Tensor | None:
    """Boolean SDPA mask (B or 1, 1, q_len, k_len): causal (query at start+i sees keys ≤ start+i) and
    padding keys hidden. A padded query row would see nothing (NaN), so it may always see itself."""
    if key_valid is None and q_len == 1:
        return None
    device = key_valid.device if key_valid is not None else None
    q_pos = torch.arange(start, start + q_len, device=device)[:, None]
    k_pos = torch.arange(k_len, device=device)[None, :]
    mask = (k_pos <= q_pos)[None, None]
    if key_valid is not None:
        mask = (mask & key_valid[:, None, None, :k_len]) | (k_pos == q_pos)
    return mask


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with fused QKV projection (``c_attn``) and output ``c_proj``
    (``causal=False`` in ``forward``: every position attends to every other, as MDLM's denoiser)."""

    def __init__(self, n_embd: int, n_head: int, bias: bool = True, dropout: float = 0.0):
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"n_embd={n_embd} is not divisible by n_head={n_head}")
        self.n_head, self.head_dim = n_head, n_embd // n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.dropout = dropout
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, *, rotary: tuple[Tensor, Tensor] | None = None, mask: Tensor | None = None,
                cache: KVCache | None = None, layer: int = 0, causal: bool = True) -> Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).view(B, T, 3, self.n_head, self.head_dim).permute(2, 0, 3, 1, 4)
        if rotary is not None:
            q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
        start = 0
        if cache is not None:
            start = cache.length
            k, v = cache.update(layer, k, v)
        dropout = self.dropout if self.training else 0.0
        if mask is None and T > 1 and start == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=causal, dropout_p=dropout)
        else:  # mask None here means: one query that may see every cached key
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        y = self.c_proj(y.transpose(1, 2).reshape(B, T, C))
        return self.resid_dropout(y) if self.training and self.dropout else y  # skip the no-op call when decoding


class MLP(nn.Module):
    """``c_proj(act(c_fc(x)))`` with GELU (exact or tanh), or SwiGLU ``c_proj(silu(c_fc x) * c_gate x)``."""

    def __init__(self, n_embd: int, hidden: int, activation: str = "gelu_tanh", bias: bool = True, dropout: float = 0.0):
        super().__init__()
        if activation not in ("gelu_tanh", "gelu", "swiglu"):
            raise ValueError(f"unknown activation {activation!r}")
        self.activation = activation
        self.c_fc = nn.Linear(n_embd, hidden, bias=bias)
        self.c_gate = nn.Linear(n_embd, hidden, bias=bias) if activation == "swiglu" else None
        self.c_proj = nn.Linear(hidden, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        h = self.c_fc(x)
        if self.c_gate is not None:
            h = F.silu(h) * self.c_gate(x)
        else:
            h = F.gelu(h, approximate="tanh" if self.activation == "gelu_tanh" else "none")
        h = self.c_proj(h)
        return self.dropout(h) if self.training and self.dropout.p else h


class Block(nn.Module):
    """Pre-LN transformer block: x + attn(ln_1 x), then + mlp(ln_2 x)."""

    def __init__(self, n_embd: int, n_head: int, hidden: int, *, norm: str = "layernorm", eps: float = 1e-5,
                 activation: str = "gelu_tanh", bias: bool = True, dropout: float = 0.0):
        super().__init__()
        self.ln_1 = make_norm(norm, n_embd, eps, bias)
        self.attn = CausalSelfAttention(n_embd, n_head, bias, dropout)
        self.ln_2 = make_norm(norm, n_embd, eps, bias)
        self.mlp = MLP(n_embd, hidden, activation, bias, dropout)

    def forward(self, x: Tensor, **attn_kw) -> Tensor:
        x = x + self.attn(self.ln_1(x), **attn_kw)
        return x + self.mlp(self.ln_2(x))


def init_gpt_weights(module: nn.Module, n_layer: int, std: float = 0.02) -> None:
    """GPT-2 initialisation: N(0, 0.02) everywhere, residual projections scaled by 1/sqrt(2 n_layer)."""
    for name, p in module.named_parameters():
        if p.dim() >= 2:
            scale = 1.0 / math.sqrt(2 * n_layer) if name.endswith("c_proj.weight") else 1.0
            nn.init.normal_(p, mean=0.0, std=std * scale)
        elif name.endswith("bias"):
            nn.init.zeros_(p)
