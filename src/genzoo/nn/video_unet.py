"""A factorised space-time U-Net for video diffusion (Ho et al. 2022, "Video Diffusion Models", Sec. 3).

The 2-D U-Net of ``unet.py`` runs on every frame (its ResBlocks, convolutions, resamplers and spatial
attention treat the ``B*T`` frames as a batch); after each ResBlock, and in the middle block, a
temporal attention layer mixes information across frames at each spatial position::

    h (B*T, C, H, W) -> (B*H*W, C, T, 1) + e_frame -> unet.Attention over the T positions -> back

``e_frame`` (C per frame index) is a learned frame-position embedding; the attention's output
projection starts at zero, so an untrained block is the identity (as in Ho et al.'s factorisation, the
network then starts as a per-frame image model). The timestep (and class) embedding is per clip and
shared by its frames. ``mask`` (B, T) marks frames given as clean context (video prediction): it enters
as one extra input channel, constant over each frame.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from .embeddings import broadcast_timesteps
from .unet import Attention, UNet2D, norm_act


class TemporalAttention(nn.Module):
    """Self-attention over the frames of each spatial position, with a learned frame-position embedding."""

    def __init__(self, channels: int, frames: int, head_dim: int, groups: int, eps: float):
        super().__init__()
        self.frame_embedding = nn.Parameter(torch.zeros(frames, channels))
        self.attention = Attention(channels, head_dim, groups, eps)
        nn.init.zeros_(self.attention.to_out[0].weight)
        nn.init.zeros_(self.attention.to_out[0].bias)

    def forward(self, h: Tensor, frames: int) -> Tensor:
        bt, c, hh, ww = h.shape
        seq = h.view(bt // frames, frames, c, hh, ww).permute(0, 3, 4, 2, 1).reshape(-1, c, frames, 1)
        seq = self.attention(seq + self.frame_embedding.T[None, :, :, None])
        return seq.view(bt // frames, hh, ww, c, frames).permute(0, 4, 3, 1, 2).reshape(bt, c, hh, ww)


class VideoUNet(UNet2D):
    """``forward(x (B,T,C,H,W), t (B,) or scalar, class_labels (B,) | None, mask (B,T) | None) -> (B,T,C,H,W)``.

    ``frames``: the clip length (size of the frame-position embedding); ``context``: add the mask channel;
    ``temporal_levels``: the resolutions (0 = full) with temporal attention (None: all; the middle block
    always has it). Other arguments are ``UNet2D``'s (``attention_levels``: levels with *spatial* attention).
    """

    def __init__(self, channels: int, frames: int, context: bool = False, temporal_levels: tuple[int, ...] | None = None,
                 **unet_kwargs):
        unet_kwargs.setdefault("attention_levels", ())
        super().__init__(in_channels=channels + int(context), out_channels=channels, **unet_kwargs)
        self.frames, self.context = frames, context
        head_dim, groups = unet_kwargs.get("attention_head_dim", 8), unet_kwargs.get("norm_num_groups", 8)
        eps = unet_kwargs.get("norm_eps", 1e-5)
        levels = range(self.num_levels) if temporal_levels is None else temporal_levels
        if any(not 0 <= i < self.num_levels for i in levels):
            raise ConfigError(f"temporal_levels {tuple(levels)} must be level indices in 0..{self.num_levels - 1}")
        for i, block in [*enumerate(self.down_blocks), *((self.num_levels - 1 - i, b) for i, b in enumerate(self.up_blocks))]:
            c = block.resnets[0].conv1.out_channels
            block.temporal = nn.ModuleList(TemporalAttention(c, frames, head_dim, groups, eps) for _ in block.resnets) \
                if i in levels else None
        c = self.mid_block.resnets[0].conv1.out_channels
        self.mid_block.temporal = nn.ModuleList([TemporalAttention(c, frames, head_dim, groups, eps)])

    @staticmethod
    def temporal(level, j: int, hidden: Tensor, frames: int) -> Tensor:
        return hidden if level.temporal is None else level.temporal[j](hidden, frames)

    def forward(self, x: Tensor, t, class_labels: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        b, frames, c, h, w = x.shape
        if frames != self.frames:
            raise ConfigError(f"this video U-Net was built for {self.frames} frames, got clips of {frames}")
        t = broadcast_timesteps(t, b, x.device)
        emb = self.time_embedding(t)
        if self.class_embedding is not None:
            if class_labels is None:
                raise ConfigError("this video U-Net is class-conditional; pass class_labels")
            emb = emb + self.class_embedding(class_labels)
        emb_act = F.silu(emb).to(x.dtype).repeat_interleave(frames, 0)
        if self.context:
            m = torch.zeros(b, frames, device=x.device, dtype=x.dtype) if mask is None else mask.to(x.dtype)
            x = torch.cat([x, m[:, :, None, None, None].expand(b, frames, 1, h, w)], 2)
        hidden = self.conv_in(x.flatten(0, 1))
        skips = [hidden]
        for level in self.down_blocks:
            for j in range(len(level.resnets)):
                hidden = self.temporal(level, j, level.block(j, hidden, emb_act), frames)
                skips.append(hidden)
            if hasattr(level, "downsamplers"):
                hidden = level.downsamplers[0](hidden)
                skips.append(hidden)
        mid = self.mid_block
        hidden = mid.resnets[0](hidden, emb_act)
        if mid.attentions is not None:
            hidden = mid.attentions[0](hidden)
        hidden = mid.resnets[1](mid.temporal[0](hidden, frames), emb_act)
        for level in self.up_blocks:
            for j in range(len(level.resnets)):
                hidden = self.temporal(level, j, level.block(j, torch.cat([hidden, skips.pop()], dim=1), emb_act), frames)
            if hasattr(level, "upsamplers"):
                hidden = level.upsamplers[0](hidden)
        out = self.conv_out(norm_act(self.conv_norm_out, hidden))
        return out.view(b, frames, -1, h, w)
