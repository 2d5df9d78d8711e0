"""One cached decoding step of a GPT stack, with the per-token overhead cut down to the math.

Decoding one new token per row reads every weight once (one matrix-vector product per linear
layer) and runs ~30 small ops per block. For a small model on a CPU those small ops cost as much as
the arithmetic: each eager-mode module call, ``F.linear`` (a transpose, then ``addmm``), view and
permute goes through Python and the dispatcher. ``DecodeStep`` is built once per ``generate`` call
(with the KV cache); it reads the blocks' tensors once (weights as transposed views for ``addmm``,
norms and activations as plain functions) and computes, for each block and the one new position,

    h = LN₁(x);  [q, k, v] = h W_qkv + b;  K[:, t] = k, V[:, t] = v;  a = softmax(q K[:, ≤t]ᵀ/√d + M) V[:, ≤t]
    x = x + a W_o + b_o;  x = x + MLP(LN₂(x))

with the same ops (and so the same numbers) as the module path, in one tight loop. One exception,
chosen by timing: where the BLAS runs a matrix-vector product on one core (MKL on an AMD EPYC), the
plain linear layers' products are split by output rows over the cores (``decode_split``; still the
same dot products, see ``genzoo.nn.decode_kernels``). The ``quantize`` formats give their own
per-token function (``decode_fn``: kernel and buffers bound once, same numbers as their
``forward``); any other linear layer (adapters) runs its own ``forward``.
``DecodeStep.supports(model)`` is False, and the module path runs, while any forward hook is set
(hooks would be skipped here), a block is not a ``genzoo.nn.transformer.Block`` or an embedding is
not a plain ``nn.Embedding`` (an adapter wraps it). Adapted linear layers (``genzoo.finetune``)
run their own forward here.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules import module as module_globals

from .decode_kernels import choose_split, split_rows_fn
from .transformer import MLP, Block, CausalSelfAttention, KVCache, RMSNorm, apply_rotary

Fn = Callable[[Tensor], Tensor]


def linear_fn(layer: nn.Module, rows: int, split: int = 1) -> Fn:
    """x (rows, in) -> x Wᵀ + b: for ``nn.Linear`` one ``addmm`` on a transposed view (``split`` 1) or
    the output rows in ``split`` blocks (``genzoo.nn.decode_kernels.split_rows_fn``, the same dot
    products); the layer's ``decode_fn(rows)`` for the ``quantize`` formats (``genzoo.nn.quantized``),
    else its forward."""
    if type(layer) is not nn.Linear:
        return layer.decode_fn(rows) if hasattr(layer, "decode_fn") else layer.forward
    return split_rows_fn(layer.weight, layer.bias, rows, split)


def norm_fn(norm: nn.Module) -> Fn:
    if type(norm) is nn.LayerNorm:
        shape, weight, bias, eps = norm.normalized_shape, norm.weight, norm.bias, norm.eps
        return lambda x: F.layer_norm(x, shape, weight, bias, eps)
    if type(norm) is RMSNorm:
        weight, eps = norm.weight, norm.eps
        return lambda x: F.rms_norm(x, weight.shape, weight, eps)
    return norm.forward


def mlp_fn(mlp: MLP, rows: int, split: int) -> Fn:
    fc, proj = linear_fn(mlp.c_fc, rows, split), linear_fn(mlp.c_proj, rows, split)
    if mlp.c_gate is not None:
        gate = linear_fn(mlp.c_gate, rows, split)
        return lambda x: proj(F.silu(fc(x)).mul_(gate(x)))
    approximate = "tanh" if mlp.activation == "gelu_tanh" else "none"
    return lambda x: proj(F.gelu(fc(x), approximate=approximate))


def has_hooks(model: nn.Module) -> bool:
    """Whether any forward (pre-)hook, on a module of ``model`` or global, would fire in a forward pass."""
    if module_globals._global_forward_hooks or module_globals._global_forward_pre_hooks:
        return True
    return any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def decode_split(model: nn.Module, rows: int) -> int:
    """How many output-row blocks the plain ``nn.Linear`` products of a step use: the model's
    ``decode_split`` where set, else the faster of 1 and the thread count on this machine, timed once
    per process (``genzoo.nn.decode_kernels.choose_split``)."""
    forced = getattr(model, "decode_split", None)
    if forced is not None:
        return int(forced)
    linears = [m for m in model.modules() if type(m) is nn.Linear]
    return choose_split(linears, rows)


class DecodeStep:
    """``step(idx, position_ids, mask)``: logits (B, 1, V) of one new token per row, cache updated.

    ``position_ids`` (B, 1), or None when every row is at position ``cache.length``; ``mask`` is the
    attention mask of ``genzoo.nn.transformer.attention_mask`` (None: every cached key is visible)."""

    @staticmethod
    def supports(model: nn.Module) -> bool:
        t = model.transformer
        blocks = t.h
        plain_embeddings = type(t.wte) is nn.Embedding and ("wpe" not in t or type(t.wpe) is nn.Embedding)
        return (not model.training and not has_hooks(model) and plain_embeddings
                and all(type(b) is Block and type(b.attn) is CausalSelfAttention and type(b.mlp) is MLP for b in blocks))

    def __init__(self, model: nn.Module, cache: KVCache):
        t = model.transformer
        self.cache, self.rotary = cache, model.rotary
        self.wte = t.wte.weight
        self.wpe = t.wpe.weight if "wpe" in t else None
        rows = cache.k.shape[1]  # the batch: one new token per row
        split = self.split = decode_split(model, rows)
        self.ln_f, self.head = norm_fn(t.ln_f), linear_fn(model.lm_head, rows, split)
        self.n_head, self.head_dim = t.h[0].attn.n_head, t.h[0].attn.head_dim
        self.blocks = [(norm_fn(b.ln_1), linear_fn(b.attn.c_attn, rows, split), linear_fn(b.attn.c_proj, rows, split),
                        norm_fn(b.ln_2), mlp_fn(b.mlp, rows, split)) for b in t.h]

    def __call__(self, idx: Tensor, position_ids: Tensor | None, mask: Tensor | None) -> Tensor:
        cache = self.cache
        B, start = idx.shape[0], cache.length
        end = start + 1
        H, D = self.n_head, self.head_dim
        x = self.wte[idx[:, 0]]  # (B, C)
        rotary = None
        if self.rotary is not None:
            rotary = self.rotary(position_ids if position_ids is not None else torch.tensor([[start]], device=idx.device))
        else:  # position ids None: every row is at position ``start``
            x = x + (self.wpe[start] if position_ids is None else self.wpe[position_ids[:, 0]])
        for layer, (ln_1, c_attn, c_proj, ln_2, mlp) in enumerate(self.blocks):
            qkv = c_attn(ln_1(x)).view(B, 3, H, 1, D)
            q, k, v = qkv.unbind(1)  # each (B, H, 1, D)
            if rotary is not None:
                q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
            keys, values = cache.update(layer, k, v)
            a = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
            x = c_proj(a.view(B, H * D)).add_(x)
            x = mlp(ln_2(x)).add_(x)
        cache.length = end
        return self.head(self.ln_f(x)).unsqueeze(1)
