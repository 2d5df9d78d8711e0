"""Decoder-only transformer blocks: causal self-attention with a preallocated KV cache, MLP/SwiGLU,
LayerNorm/RMSNorm, rotary positions, and a weight-only int8 linear layer for fast CPU decoding.

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
    """Multi-head causal self-attention with fused QKV projection (``c_attn``) and output ``c_proj``."""

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
                cache: KVCache | None = None, layer: int = 0) -> Tensor:
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
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout)
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


def quantize_rows(weight: Tensor) -> tuple[Tensor, Tensor]:
    """Symmetric per-row int8: W ≈ diag(s) Q, s = max_j |W_ij| / 127, Q = round(W / s) ∈ [-127, 127]."""
    w = weight.detach().float()
    scale = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0
    return torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8), scale


def fbgemm_pack(weight_q: Tensor, scale: Tensor, bias: Tensor | None):
    """fbgemm/x86 packed params of int8 weights Q (out, in) with per-row scales s (W ≈ diag(s) Q)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch marks its quantized tensors deprecated
        qw = torch._make_per_channel_quantized_tensor(weight_q, scale.double(), torch.zeros_like(scale, dtype=torch.long), 0)
    return torch.ops.quantized.linear_prepack(qw, bias)


def has_fbgemm() -> bool:
    return torch.backends.quantized.engine in ("x86", "fbgemm") and hasattr(torch.ops.quantized, "linear_prepack")


class Int8Linear(nn.Module):
    """Weight-only int8 linear layer: W ≈ diag(s) Q with Q ∈ [-127, 127] per output row.

    The matmul reads 1 byte per weight (4x fewer than fp32), which is what bounds batch-1 decoding.
    Activations keep ~14 bits: on CPU, x is written as two int8 digits with one scale a,

        x ≈ a (q₁ + q₂ / k),  q₁ = round(x / a),  q₂ = round(k (x / a - q₁)),  a = max|x| / 63,  k = 126,

    (|error| ≤ a / 2k ≈ 6e-5 max|x|, finer than bf16), and both digit rows go through one fbgemm
    integer matmul (``quantized::linear_with_input_q_dq_qweight_dq_output_fp32``, exact int32 sums):
    y = W q₁ a + W q₂ a / k + b; two rows cost about what one does (the weights are read once).
    Digits stay in 7 bits, so no u8 x s8 pair sum can saturate. The digits cost ~20 µs of small ops
    per call, which small layers feel; the other kernel is ``aten._weight_int8pack_mm`` (bf16
    activations), and ``choose_decode_kernels_`` keeps whichever decodes faster here
    (``GPT.quantize`` calls it). Off CPU it runs a dequantised matmul.
    """

    DIGIT_MAX, DIGIT_SCALE = 63, 126

    def __init__(self, linear: nn.Linear):
        super().__init__()
        q, scale = quantize_rows(linear.weight)
        self.register_buffer("weight", q)
        self.register_buffer("scale", scale)
        self.register_buffer("scale_bf16", scale.to(torch.bfloat16), persistent=False)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float().clone())
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.packed = None
        if has_fbgemm() and q.device.type == "cpu":  # bias k/(k+1) b: the two digit rows add up to b
            k = self.DIGIT_SCALE
            self.packed = fbgemm_pack(self.weight, scale, None if self.bias is None else self.bias * (k / (k + 1)))
        self.kernel = self.kernels()[0]

    def two_digit_matmul(self, x2: Tensor) -> Tensor:
        """W x + b for x2 (N, in) float32 through int8 digits (see the class docstring)."""
        a = float(x2.abs().max()) / self.DIGIT_MAX
        if a == 0.0:
            return self.bias.expand(x2.shape[0], -1).clone() if self.bias is not None else x2.new_zeros(x2.shape[0], self.out_features)
        zero = self.DIGIT_MAX + 1  # uint8 zero point: digits q + 64 lie in [1, 127]
        first = (x2 * (1.0 / a)).round_().mul_(a)  # a q₁: on the grid, so the matmul's own rounding keeps q₁
        rows = torch.cat([first, (x2 - first).mul_(self.DIGIT_SCALE)])
        y = torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32(rows, a, zero, self.packed)
        n = x2.shape[0]
        return y[:n].add_(y[n:], alpha=1.0 / self.DIGIT_SCALE)  # the packed bias is b k/(k+1): b in all

    def kernels(self) -> tuple[str, ...]:
        """The ways this layer can multiply here: "digits" (fbgemm, two int8 digits), "bf16"
        (``aten._weight_int8pack_mm``, bf16 activations), "dequant" (dequantised matmul, anywhere)."""
        found = []
        if self.packed is not None and self.weight.device.type == "cpu":
            found.append("digits")
        if self.weight.device.type == "cpu" and hasattr(torch.ops.aten, "_weight_int8pack_mm"):
            found.append("bf16")
        return (*found, "dequant")

    def product(self, x2: Tensor, kernel: str) -> Tensor:
        """W x + b for x2 (N, in) with one of ``kernels()``."""
        if kernel == "digits":
            return self.two_digit_matmul(x2 if x2.dtype == torch.float32 and x2.is_contiguous() else x2.float().contiguous()).to(x2.dtype)
        if kernel == "bf16":  # fast for bf16 activations (fp32 takes a slow path); accumulates in fp32
            y = torch.ops.aten._weight_int8pack_mm(x2.to(torch.bfloat16).contiguous(), self.weight, self.scale_bf16).to(x2.dtype)
        else:
            y = (x2 @ self.weight.to(x2.dtype).t()) * self.scale.to(x2.dtype)
        return y if self.bias is None else y.add_(self.bias.to(y.dtype))

    def forward(self, x: Tensor) -> Tensor:
        kernel = self.kernel if x.device == self.weight.device else "dequant"
        return self.product(x.reshape(-1, x.shape[-1]), kernel).view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"


class DynamicInt8Linear(nn.Module):
    """int8 weights (per-row scales) and int8 activations quantised on the fly per call (W8A8).

    Runs fbgemm's ``quantized::linear_dynamic`` (integer dot products, fp32 output): about twice as
    fast as the weight-only kernel on CPU. torch marks its quantized tensors deprecated (still
    present in 2.13), so this mode is an option, not the default.
    """

    def __init__(self, linear: nn.Linear):
        super().__init__()
        q, scale = quantize_rows(linear.weight)
        self.packed = fbgemm_pack(q, scale, None if linear.bias is None else linear.bias.detach().float().clone())
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        y = torch.ops.quantized.linear_dynamic(x.reshape(-1, shape[-1]).float(), self.packed, True)
        return y.to(x.dtype).view(*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 weights and activations"


class TransposedLinear(nn.Module):
    """y = b + x Wᵀ with Wt = Wᵀ stored (in, out), GPT-2's Conv1D layout, for fast decoding.

    Same fp32 weights, different memory order and summation. For up to ``SPLIT_MAX_ROWS`` rows
    (decoding) the product can be split along the input dimension, y = b + Σ_j x_j Wt_j over
    ``SPLIT`` blocks, as one ``bmm`` plus a sum, which lets both cores stream weights at once where
    the BLAS runs a matrix-vector product on one core (MKL on an AMD EPYC: 1.6-1.8x faster); where
    the BLAS already uses every core (MKL on a Xeon) one ``addmm`` is faster: ``choose_decode_kernels_``
    times both on this machine (``GPT.quantize("fp32")`` calls it). Rows beyond ``SPLIT_MAX_ROWS``
    (prompt prefill) use one ``addmm``.
    """

    SPLIT = 4
    SPLIT_MAX_ROWS = 16

    def __init__(self, linear: nn.Linear, split: int = SPLIT):
        super().__init__()
        self.register_buffer("weight_t", linear.weight.detach().t().contiguous())
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().clone())
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.split = split if self.in_features % split == 0 else 1

    def product(self, x2: Tensor, split: int) -> Tensor:
        """b + x2 Wt for x2 (N, in): one ``addmm``, or the input dimension split into ``split`` blocks."""
        if split == 1:
            return x2 @ self.weight_t if self.bias is None else torch.addmm(self.bias, x2, self.weight_t)
        rows = x2.shape[0]
        blocks = self.weight_t.view(split, self.in_features // split, self.out_features)
        y = torch.bmm(x2.view(rows, split, -1).transpose(0, 1), blocks).sum(0)
        return y if self.bias is None else y.add_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        x2 = x.reshape(-1, x.shape[-1])
        split = self.split if x2.shape[0] <= self.SPLIT_MAX_ROWS else 1
        return self.product(x2, split).view(*x.shape[:-1], self.out_features)


def choose_kernel_(layers: list[nn.Module], options: tuple, attr: str, rounds: int = 5):
    """Set ``layer.<attr>`` on every layer to the option under which a batch-1 pass through all
    ``layers`` is fastest here; ``layer.product(x, option)`` computes one product.

    The pass reads the layers as a decoded token does (so weights come from wherever they live
    between tokens, cache or memory); best of ``rounds`` interleaved rounds."""
    import time

    if not layers:
        return None
    xs = [torch.full((1, layer.in_features), 0.5) for layer in layers]
    best = dict.fromkeys(options, float("inf"))
    with torch.inference_mode():
        for _ in range(rounds):
            for option in options:
                start = time.perf_counter()
                for layer, x in zip(layers, xs):
                    layer.product(x, option)
                best[option] = min(best[option], time.perf_counter() - start)
    choice = min(best, key=best.get)
    for layer in layers:
        setattr(layer, attr, choice)
    return choice


def choose_decode_kernels_(model: nn.Module) -> None:
    """The faster batch-1 product on this CPU for every quantised layer of ``model``: split-K or one
    ``addmm`` for ``TransposedLinear``; two int8 digits or bf16 activations for ``Int8Linear``."""
    fp32 = [m for m in model.modules() if isinstance(m, TransposedLinear) and m.in_features % m.SPLIT == 0]
    if fp32 and fp32[0].weight_t.device.type == "cpu":
        choose_kernel_(fp32, (1, TransposedLinear.SPLIT), "split")
    int8 = [m for m in model.modules() if isinstance(m, Int8Linear)]
    if int8 and len(int8[0].kernels()) > 2:  # more than one fast kernel to choose from
        choose_kernel_(int8, int8[0].kernels()[:2], "kernel")


DECODE_LINEARS = {"fp32": TransposedLinear, "int8": Int8Linear, "int8-dynamic": DynamicInt8Linear}


def swap_linears_(module: nn.Module, layer: type) -> nn.Module:
    """Replace every ``nn.Linear`` inside ``module`` by ``layer(linear)``, in place."""
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Linear):
            setattr(module, name, layer(child))
        else:
            swap_linears_(child, layer)
    return module


def init_gpt_weights(module: nn.Module, n_layer: int, std: float = 0.02) -> None:
    """GPT-2 initialisation: N(0, 0.02) everywhere, residual projections scaled by 1/sqrt(2 n_layer)."""
    for name, p in module.named_parameters():
        if p.dim() >= 2:
            scale = 1.0 / math.sqrt(2 * n_layer) if name.endswith("c_proj.weight") else 1.0
            nn.init.normal_(p, mean=0.0, std=std * scale)
        elif name.endswith("bias"):
            nn.init.zeros_(p)
