"""Text-conditional U-Net: genzoo's ``UNet2D`` with cross-attention transformer blocks at its attention
levels and in the middle, laid out exactly like diffusers' ``UNet2DConditionModel`` (Rombach et al. 2022).

Transformer2D (diffusers' ``Transformer2DModel``) on a feature map ``x`` (C channels) and a context ``c``
(tokens x ``cross_attention_dim``)::

    h = proj_in(GN(x))  -> tokens (HW, C)
    h = h + SelfAttn(LN1(h));  h = h + CrossAttn(LN2(h), c);  h = h + W2 (a * GELU(g)), [a, g] = W1 LN3(h)
    out = x + proj_out(h)

Attention: ``softmax(Q K^T / sqrt(d)) V`` with ``Q = W_q h``, ``K = W_k c``, ``V = W_v c`` (no biases), heads
of ``attention_head_dim`` channels; the FFN is GEGLU (Shazeer 2020) with 4C hidden units.
"""
from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from .unet import UNet2D


class CrossAttention(nn.Module):
    """diffusers ``Attention``: ``to_q``/``to_k``/``to_v`` without bias, ``to_out.0`` with."""

    def __init__(self, dim: int, heads: int, context_dim: int | None = None):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(context_dim or dim, dim, bias=False)
        self.to_v = nn.Linear(context_dim or dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])

    def forward(self, h: Tensor, context: Tensor | None = None) -> Tensor:
        c = h if context is None else context
        B, N, D = h.shape
        q, k, v = (p(z).reshape(B, -1, self.heads, D // self.heads).transpose(1, 2)
                   for p, z in ((self.to_q, h), (self.to_k, c), (self.to_v, c)))
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, N, D)
        return self.to_out[0](out)


class GEGLU(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.proj = nn.Linear(dim, 2 * hidden)

    def forward(self, h: Tensor) -> Tensor:
        a, gate = self.proj(h).chunk(2, dim=-1)
        return a * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, mult * dim), nn.Dropout(0.0), nn.Linear(mult * dim, dim)])

    def forward(self, h: Tensor) -> Tensor:
        for layer in self.net:
            h = layer(h)
        return h


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, context_dim: int):
        super().__init__()
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn1 = CrossAttention(dim, heads)
        self.attn2 = CrossAttention(dim, heads, context_dim)
        self.ff = FeedForward(dim)

    def forward(self, h: Tensor, context: Tensor) -> Tensor:
        h = h + self.attn1(self.norm1(h))
        h = h + self.attn2(self.norm2(h), context)
        return h + self.ff(self.norm3(h))


class Transformer2D(nn.Module):
    def __init__(self, channels: int, heads: int, context_dim: int, groups: int, layers: int = 1, linear: bool = True):
        super().__init__()
        self.linear = linear
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, channels) if linear else nn.Conv2d(channels, channels, 1)
        self.transformer_blocks = nn.ModuleList(BasicTransformerBlock(channels, heads, context_dim) for _ in range(layers))
        self.proj_out = nn.Linear(channels, channels) if linear else nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        B, C, H, W = x.shape
        h = self.norm(x)
        if not self.linear:
            h = self.proj_in(h)
        h = h.permute(0, 2, 3, 1).reshape(B, H * W, C)
        if self.linear:
            h = self.proj_in(h)
        for block in self.transformer_blocks:
            h = block(h, context)
        if self.linear:
            h = self.proj_out(h)
        h = h.reshape(B, H, W, C).permute(0, 3, 1, 2)
        return x + (h if self.linear else self.proj_out(h.contiguous()))


class ConditionalUNet2D(UNet2D):
    """``forward(x, t, encoder_hidden_states (N, L, cross_attention_dim)) -> (N, out_channels, H, W)``."""

    def __init__(self, *, cross_attention_dim: int, attention_head_dim: int = 8, norm_num_groups: int = 8,
                 transformer_layers: int = 1, use_linear_projection: bool = True, **kw: Any):
        def make_attention(channels: int) -> Transformer2D:
            if channels % attention_head_dim:
                raise ConfigError(f"attention_head_dim={attention_head_dim} must divide the {channels} channels of an attention level")
            return Transformer2D(channels, channels // attention_head_dim, cross_attention_dim, norm_num_groups,
                                 transformer_layers, use_linear_projection)

        super().__init__(attention_head_dim=attention_head_dim, norm_num_groups=norm_num_groups, mid_attention=True,
                         make_attention=make_attention, **kw)
        self.cross_attention_dim = cross_attention_dim

    def forward(self, x: Tensor, t, encoder_hidden_states: Tensor) -> Tensor:
        if encoder_hidden_states.shape[-1] != self.cross_attention_dim:
            raise ConfigError(f"the text context has {encoder_hidden_states.shape[-1]} features; this U-Net's "
                              f"cross_attention_dim is {self.cross_attention_dim}")
        return super().forward(x, t, None, encoder_hidden_states.to(x.dtype))


# --- diffusers UNet2DConditionModel config <-> genzoo arguments ----------------------------------------
_COND_FIXED = {"center_input_sample": False, "downsample_padding": 1, "mid_block_scale_factor": 1, "act_fn": "silu",
               "only_cross_attention": False, "dual_cross_attention": False, "upcast_attention": False,
               "class_embed_type": None, "addition_embed_type": None, "time_embedding_type": "positional",
               "resnet_time_scale_shift": "default", "encoder_hid_dim": None, "num_class_embeds": None,
               "mid_block_type": "UNetMidBlock2DCrossAttn", "transformer_layers_per_block": 1,
               "attention_type": "default", "time_cond_proj_dim": None, "conv_in_kernel": 3, "conv_out_kernel": 3,
               "projection_class_embeddings_input_dim": None, "class_embeddings_concat": False,
               "timestep_post_act": None, "time_embedding_dim": None, "cross_attention_norm": None,
               "addition_time_embed_dim": None, "num_attention_heads": None, "reverse_transformer_layers_per_block": None}


def cond_unet_kwargs_from_diffusers(cfg: dict[str, Any]) -> dict[str, Any]:
    """``ConditionalUNet2D`` arguments from a diffusers ``UNet2DConditionModel`` config.json (supported layouts)."""
    if cfg.get("_class_name", "UNet2DConditionModel") != "UNet2DConditionModel":
        raise ConfigError(f"config.json describes a {cfg['_class_name']}, not a UNet2DConditionModel")
    for key, value in _COND_FIXED.items():
        if key in cfg and cfg[key] != value and not (key == "transformer_layers_per_block" and isinstance(cfg[key], int)):
            raise ConfigError(f"UNet2DConditionModel {key}={cfg[key]!r} is not supported (genzoo needs {value!r})")
    down, up = list(cfg["down_block_types"]), list(cfg["up_block_types"])
    ok_down, ok_up = {"DownBlock2D": False, "CrossAttnDownBlock2D": True}, {"UpBlock2D": False, "CrossAttnUpBlock2D": True}
    if any(d not in ok_down for d in down) or any(u not in ok_up for u in up):
        raise ConfigError("UNet2DConditionModel blocks other than (CrossAttn)DownBlock2D / (CrossAttn)UpBlock2D are not supported")
    attn = [ok_down[d] for d in down]
    if [ok_up[u] for u in reversed(up)] != attn:
        raise ConfigError("UNet2DConditionModel up_block_types must mirror down_block_types")
    chs = tuple(cfg["block_out_channels"])
    heads = cfg.get("attention_head_dim", 8)  # diffusers' legacy name: the number of heads per level
    heads = list(heads) if isinstance(heads, (list, tuple)) else [heads] * len(chs)
    dims = {c // h for c, h in zip(chs, heads)}
    if len(dims) != 1:
        raise ConfigError(f"UNet2DConditionModel heads {heads} give different head sizes per level; genzoo needs one")
    return dict(in_channels=cfg.get("in_channels", 4), out_channels=cfg.get("out_channels", 4), block_out_channels=chs,
                layers_per_block=cfg.get("layers_per_block", 2), attention_levels=tuple(i for i, a in enumerate(attn) if a),
                norm_num_groups=cfg.get("norm_num_groups", 32), attention_head_dim=dims.pop(),
                cross_attention_dim=cfg.get("cross_attention_dim", 1280), dropout=cfg.get("dropout", 0.0),
                norm_eps=cfg.get("norm_eps", 1e-5), flip_sin_to_cos=cfg.get("flip_sin_to_cos", True),
                freq_shift=cfg.get("freq_shift", 0), transformer_layers=cfg.get("transformer_layers_per_block", 1),
                use_linear_projection=cfg.get("use_linear_projection", False))


def diffusers_config_from_cond_kwargs(kw: dict[str, Any], sample_size: int) -> dict[str, Any]:
    """The diffusers ``UNet2DConditionModel`` config.json describing a ``ConditionalUNet2D``."""
    chs, L = list(kw["block_out_channels"]), len(kw["block_out_channels"])
    attn = [i in kw["attention_levels"] for i in range(L)]
    fixed = {k: v for k, v in _COND_FIXED.items() if k != "transformer_layers_per_block"}
    return {"_class_name": "UNet2DConditionModel", "_diffusers_version": "0.42.1", **fixed,
            "sample_size": sample_size, "in_channels": kw["in_channels"], "out_channels": kw.get("out_channels") or kw["in_channels"],
            "block_out_channels": chs, "layers_per_block": kw["layers_per_block"],
            "down_block_types": ["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attn],
            "up_block_types": ["CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attn)],
            "attention_head_dim": [c // kw["attention_head_dim"] for c in chs],
            "cross_attention_dim": kw["cross_attention_dim"], "norm_num_groups": kw["norm_num_groups"],
            "norm_eps": kw.get("norm_eps", 1e-5), "dropout": kw.get("dropout", 0.0),
            "flip_sin_to_cos": kw.get("flip_sin_to_cos", True), "freq_shift": kw.get("freq_shift", 0),
            "transformer_layers_per_block": kw.get("transformer_layers", 1),
            "use_linear_projection": kw.get("use_linear_projection", True)}
