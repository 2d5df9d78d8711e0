"""A DDPM U-Net (Ho et al. 2020, after PixelCNN++ / Ronneberger et al. 2015), laid out exactly like
diffusers' ``UNet2DModel`` so its checkpoints load by name.

    t -> sinusoidal(t) -> Linear -> SiLU -> Linear = emb   (+ class embedding)
    x -> conv_in -> [down level: ResBlock (+ self-attention) x layers, stride-2 conv] x levels
      -> mid: ResBlock, self-attention, ResBlock
      -> [up level: concat skip, ResBlock (+ attention) x (layers + 1), nearest x2 + conv] x levels
      -> GroupNorm -> SiLU -> conv_out

ResBlock: ``h = conv1(SiLU(GN(x))) + Linear(SiLU(emb)); out = shortcut(x) + conv2(SiLU(GN(h)))``.
Attention: ``x + W_o softmax(QK^T/sqrt(d)) V`` over the H*W positions of GN(x), multi-head.
Module names (``down_blocks.0.resnets.0.conv1`` ...) match diffusers' so the state dicts are identical.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from .embeddings import TimestepEmbedding, broadcast_timesteps


def norm_act(norm: nn.GroupNorm, x: Tensor) -> Tensor:
    """SiLU(GroupNorm(x)); in place when no gradient is needed."""
    h = norm(x)
    return F.silu(h, inplace=not torch.is_grad_enabled())


class ResnetBlock2D(nn.Module):
    """``temb_channels=None``: no timestep input (the blocks of diffusers' AutoencoderKL)."""

    def __init__(self, in_channels: int, out_channels: int, temb_channels: int | None, groups: int, eps: float,
                 dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=eps)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb_channels, out_channels) if temb_channels else None
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=eps)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: Tensor, emb_act: Tensor | None = None) -> Tensor:
        """``emb_act`` is SiLU(emb), computed once per forward for every block."""
        h = self.conv1(norm_act(self.norm1, x))
        if self.time_emb_proj is not None:
            h = h + self.time_emb_proj(emb_act)[:, :, None, None]
        h = self.conv2(self.dropout(norm_act(self.norm2, h)))
        skip = x if self.conv_shortcut is None else self.conv_shortcut(x)
        return skip + h


class Attention(nn.Module):
    """Multi-head self-attention over spatial positions with a residual connection."""

    def __init__(self, channels: int, head_dim: int, groups: int, eps: float):
        super().__init__()
        if channels % head_dim:
            raise ConfigError(f"attention_head_dim={head_dim} must divide the {channels} channels of an attention level")
        self.heads = channels // head_dim
        self.group_norm = nn.GroupNorm(groups, channels, eps=eps)
        self.to_q = nn.Linear(channels, channels)
        self.to_k = nn.Linear(channels, channels)
        self.to_v = nn.Linear(channels, channels)
        self.to_out = nn.ModuleList([nn.Linear(channels, channels), nn.Dropout(0.0)])

    def forward(self, x: Tensor) -> Tensor:
        B, C, H, W = x.shape
        h = self.group_norm(x).reshape(B, C, H * W).transpose(1, 2)             # (B, HW, C)
        if all(type(m) is nn.Linear for m in (self.to_q, self.to_k, self.to_v)):  # one fused product
            w = torch.cat([self.to_q.weight, self.to_k.weight, self.to_v.weight])
            b = torch.cat([self.to_q.bias, self.to_k.bias, self.to_v.bias])
            qkv = F.linear(h, w, b)
        else:  # adapted projections (genzoo.finetune) run their own forward
            qkv = torch.cat([self.to_q(h), self.to_k(h), self.to_v(h)], dim=-1)
        q, k, v = qkv.reshape(B, H * W, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        h = F.scaled_dot_product_attention(q, k, v)                              # (B, heads, HW, d)
        h = self.to_out[0](h.transpose(1, 2).reshape(B, H * W, C))
        return x + h.transpose(1, 2).reshape(B, C, H, W)


class Downsample2D(nn.Module):
    """Stride-2 3x3 conv; ``padding=0`` pads right/bottom by one first (diffusers' VAE encoder)."""

    def __init__(self, channels: int, padding: int = 1):
        super().__init__()
        self.padding = padding
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=padding)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x if self.padding else F.pad(x, (0, 1, 0, 1)))


class Upsample2D(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Level(nn.Module):
    """One resolution of the U-Net: ResBlocks, optional attention after each, optional resampler."""

    def __init__(self, in_chs: list[int], out_channels: int, temb: int, attention: bool, head_dim: int,
                 groups: int, eps: float, dropout: float, resample: str | None, make_attention=None):
        super().__init__()
        make_attention = make_attention or (lambda c: Attention(c, head_dim, groups, eps))
        self.resnets = nn.ModuleList(ResnetBlock2D(c, out_channels, temb, groups, eps, dropout) for c in in_chs)
        if attention:
            self.attentions = nn.ModuleList(make_attention(out_channels) for _ in in_chs)
        else:
            self.attentions = None
        if resample == "down":
            self.downsamplers = nn.ModuleList([Downsample2D(out_channels)])
        elif resample == "up":
            self.upsamplers = nn.ModuleList([Upsample2D(out_channels)])

    def block(self, j: int, x: Tensor, emb_act: Tensor, context: Tensor | None = None) -> Tensor:
        """ResBlock then attention (cross-attention to ``context`` when given)."""
        x = self.resnets[j](x, emb_act)
        if self.attentions is None:
            return x
        return self.attentions[j](x) if context is None else self.attentions[j](x, context)


class MidBlock(Level):
    """ResBlock, attention, ResBlock at the lowest resolution."""

    def __init__(self, channels: int, temb: int | None, attention: bool, head_dim: int, groups: int, eps: float,
                 dropout: float, make_attention=None):
        nn.Module.__init__(self)
        make_attention = make_attention or (lambda c: Attention(c, head_dim, groups, eps))
        self.resnets = nn.ModuleList(ResnetBlock2D(channels, channels, temb, groups, eps, dropout) for _ in range(2))
        self.attentions = nn.ModuleList([make_attention(channels)]) if attention else None

    def forward(self, x: Tensor, emb_act: Tensor | None, context: Tensor | None = None) -> Tensor:
        return self.resnets[1](self.block(0, x, emb_act, context), emb_act)


class UNet2D(nn.Module):
    """``forward(x (N,C,H,W), t (N,) or scalar, class_labels (N,) | None) -> (N, out_channels, H, W)``.

    ``attention_levels``: indices of the resolutions (0 = full) that get self-attention;
    ``make_attention(channels)`` builds another attention module there (``nn/unet_cond.py``: cross-attention
    transformer blocks, called with the ``encoder_hidden_states`` of ``forward``).
    """

    def __init__(self, in_channels: int = 1, out_channels: int | None = None,
                 block_out_channels: tuple[int, ...] = (32, 64, 64), layers_per_block: int = 1,
                 attention_levels: tuple[int, ...] = (2,), norm_num_groups: int = 8, attention_head_dim: int = 8,
                 num_class_embeds: int | None = None, dropout: float = 0.0, norm_eps: float = 1e-5,
                 mid_attention: bool = True, flip_sin_to_cos: bool = True, freq_shift: float = 0.0,
                 make_attention=None):
        super().__init__()
        chs, L = list(block_out_channels), len(block_out_channels)
        out_channels = out_channels or in_channels
        if any(c % norm_num_groups for c in chs):
            raise ConfigError(f"norm_num_groups={norm_num_groups} must divide every block_out_channels {tuple(chs)}")
        if any(not 0 <= a < L for a in attention_levels):
            raise ConfigError(f"attention_levels {tuple(attention_levels)} must be level indices in 0..{L - 1}")
        temb = chs[0] * 4
        kw = dict(head_dim=attention_head_dim, groups=norm_num_groups, eps=norm_eps, dropout=dropout,
                  make_attention=make_attention)
        self.num_levels = L
        self.conv_in = nn.Conv2d(in_channels, chs[0], 3, padding=1)
        self.time_embedding = TimestepEmbedding(chs[0], temb, flip_sin_to_cos=flip_sin_to_cos, freq_shift=freq_shift)
        self.class_embedding = nn.Embedding(num_class_embeds, temb) if num_class_embeds else None
        self.down_blocks = nn.ModuleList()
        c_prev = chs[0]
        for i, c in enumerate(chs):
            ins = [c_prev] + [c] * (layers_per_block - 1)
            self.down_blocks.append(Level(ins, c, temb, i in attention_levels, resample="down" if i < L - 1 else None, **kw))
            c_prev = c
        self.mid_block = MidBlock(chs[-1], temb, mid_attention, **kw)
        skips = [chs[0]] + [c for i, c in enumerate(chs) for _ in range(layers_per_block + (i < L - 1))]
        self.up_blocks = nn.ModuleList()
        c_prev = chs[-1]
        for i, c in enumerate(reversed(chs)):
            level = L - 1 - i
            ins = []
            for j in range(layers_per_block + 1):
                ins.append((c_prev if j == 0 else c) + skips.pop())
            self.up_blocks.append(Level(ins, c, temb, level in attention_levels, resample="up" if level > 0 else None, **kw))
            c_prev = c
        self.conv_norm_out = nn.GroupNorm(norm_num_groups, chs[0], eps=norm_eps)
        self.conv_out = nn.Conv2d(chs[0], out_channels, 3, padding=1)

    @property
    def channels_last(self) -> bool:
        """True after ``unet.to(memory_format=torch.channels_last)`` (faster oneDNN convolutions on CPU)."""
        w = next(p for p in self.mid_block.resnets[0].parameters() if p.dim() == 4)  # conv1 (maybe adapter-wrapped)
        return w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()

    def forward(self, x: Tensor, t, class_labels: Tensor | None = None, encoder_hidden_states: Tensor | None = None) -> Tensor:
        t = broadcast_timesteps(t, x.shape[0], x.device)
        emb = self.time_embedding(t)
        if self.class_embedding is not None:
            if class_labels is None:
                raise ConfigError("this U-Net is class-conditional; pass class_labels")
            emb = emb + self.class_embedding(class_labels)
        emb_act = F.silu(emb).to(x.dtype)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        h = self.conv_in(x)
        skips = [h]
        for level in self.down_blocks:
            for j in range(len(level.resnets)):
                h = level.block(j, h, emb_act, encoder_hidden_states)
                skips.append(h)
            if hasattr(level, "downsamplers"):
                h = level.downsamplers[0](h)
                skips.append(h)
        h = self.mid_block(h, emb_act, encoder_hidden_states)
        for level in self.up_blocks:
            for j in range(len(level.resnets)):
                h = level.block(j, torch.cat([h, skips.pop()], dim=1), emb_act, encoder_hidden_states)
            if hasattr(level, "upsamplers"):
                h = level.upsamplers[0](h)
        return self.conv_out(norm_act(self.conv_norm_out, h))


# --- diffusers UNet2DModel config <-> genzoo arguments ----------------------------------------------
_FIXED = {"time_embedding_type": "positional", "mid_block_scale_factor": 1, "downsample_padding": 1,
          "downsample_type": "conv", "upsample_type": "conv", "act_fn": "silu", "resnet_time_scale_shift": "default",
          "center_input_sample": False, "class_embed_type": None, "attn_norm_num_groups": None,
          "time_embedding_dim": None}


def unet_kwargs_from_diffusers(cfg: dict[str, Any]) -> dict[str, Any]:
    """genzoo ``UNet2D`` arguments from a diffusers ``UNet2DModel`` config.json (supported layouts only)."""
    if cfg.get("_class_name", "UNet2DModel") != "UNet2DModel":
        raise ConfigError(f"unet/config.json describes a {cfg['_class_name']}; only UNet2DModel checkpoints are supported")
    for key, value in _FIXED.items():
        if key in cfg and cfg[key] != value:
            raise ConfigError(f"unet/config.json: {key}={cfg[key]!r} is not supported (genzoo's U-Net needs {value!r})")
    down, up = list(cfg["down_block_types"]), list(cfg["up_block_types"])
    ok_down, ok_up = {"DownBlock2D": False, "AttnDownBlock2D": True}, {"UpBlock2D": False, "AttnUpBlock2D": True}
    for name in down + up:
        if name not in ok_down and name not in ok_up:
            raise ConfigError(f"unet/config.json: block type {name!r} is not supported; use DownBlock2D/AttnDownBlock2D/UpBlock2D/AttnUpBlock2D")
    attn = [ok_down[d] for d in down]
    if [ok_up[u] for u in reversed(up)] != attn:
        raise ConfigError("unet/config.json: up_block_types must mirror down_block_types (attention at the same levels)")
    if cfg.get("mid_block_type", "UNetMidBlock2D") != "UNetMidBlock2D":
        raise ConfigError(f"unet/config.json: mid_block_type={cfg['mid_block_type']!r} is not supported")
    chs = tuple(cfg["block_out_channels"])
    return dict(in_channels=cfg.get("in_channels", 3), out_channels=cfg.get("out_channels", 3), block_out_channels=chs,
                layers_per_block=cfg.get("layers_per_block", 2), attention_levels=tuple(i for i, a in enumerate(attn) if a),
                norm_num_groups=cfg.get("norm_num_groups", 32), attention_head_dim=cfg.get("attention_head_dim") or chs[-1],
                num_class_embeds=cfg.get("num_class_embeds"), dropout=cfg.get("dropout", 0.0),
                norm_eps=cfg.get("norm_eps", 1e-5), mid_attention=cfg.get("add_attention", True),
                flip_sin_to_cos=cfg.get("flip_sin_to_cos", True), freq_shift=cfg.get("freq_shift", 0))


def diffusers_config_from_unet_kwargs(kw: dict[str, Any], sample_size: int) -> dict[str, Any]:
    """The diffusers ``UNet2DModel`` config.json describing a genzoo ``UNet2D``."""
    L = len(kw["block_out_channels"])
    attn = [i in kw["attention_levels"] for i in range(L)]
    return {"_class_name": "UNet2DModel", "_diffusers_version": "0.42.1", "sample_size": sample_size,
            "in_channels": kw["in_channels"], "out_channels": kw["out_channels"] or kw["in_channels"],
            "block_out_channels": list(kw["block_out_channels"]), "layers_per_block": kw["layers_per_block"],
            "down_block_types": ["AttnDownBlock2D" if a else "DownBlock2D" for a in attn],
            "up_block_types": ["AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attn)],
            "mid_block_type": "UNetMidBlock2D", "add_attention": kw.get("mid_attention", True),
            "norm_num_groups": kw["norm_num_groups"], "attention_head_dim": kw["attention_head_dim"],
            "num_class_embeds": kw.get("num_class_embeds"), "dropout": kw.get("dropout", 0.0),
            "norm_eps": kw.get("norm_eps", 1e-5), "flip_sin_to_cos": kw.get("flip_sin_to_cos", True),
            "freq_shift": kw.get("freq_shift", 0), **{k: v for k, v in _FIXED.items()}}
