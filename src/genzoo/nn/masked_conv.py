"""Masked convolutions for pixel-wise autoregressive models (PixelCNN family).

Pixels are generated in raster order and, within a pixel, channel by channel (R -> G -> B).
Feature maps carry the channel ordering as *groups*: with ``C`` data channels a feature map of
``n`` channels is split into ``C`` contiguous chunks, chunk ``c`` may only depend on data channels
``<= c`` of the current pixel (``< c`` right after the first, type-A, layer).

- ``channel_mask(out, in, C, "A"|"B")``: the centre-tap mask, allowed iff ``g_out > g_in`` (A) or
  ``g_out >= g_in`` (B) (van den Oord et al. 2016, "Pixel Recurrent Neural Networks", Fig. 2).
- ``MaskedConv2d``: a k x k convolution with the original PixelCNN type A/B mask (rows above the
  centre, the centre row left of the centre, the centre tap masked by channel group). Stacking these
  leaves a *blind spot* to the upper right; kept for reference and tests.
- ``GatedMaskedConv2d``: one layer of the gated PixelCNN (van den Oord et al. 2016, "Conditional
  Image Generation with PixelCNN Decoders") with a vertical stack (rows above, full width) and a
  horizontal stack (the current row up to the current pixel); the vertical stack feeds the
  horizontal one shifted down by a row, so there is no blind spot:

      v' = tanh(W_vf * v + V_f h_y) ⊙ σ(W_vg * v + V_g h_y)
      h' = h + W_1x1 (tanh(W_hf * h + U_f shift(W_v * v) + V_f h_y) ⊙ σ(...))

  ``h_y`` is an optional conditioning vector (class embedding).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def channel_groups(n: int, data_channels: int, period: int | None = None) -> Tensor:
    """Group (data channel) of each of ``n`` feature channels; ``period`` repeats the layout
    (a gate of 2F channels uses period F so both halves share the groups of an F-channel map)."""
    period = period or n
    return (torch.arange(n) % period) * data_channels // period


def channel_mask(out_ch: int, in_ch: int, data_channels: int, mask_type: str,
                 out_period: int | None = None) -> Tensor:
    """(out_ch, in_ch) 0/1 mask of the connections allowed at the current pixel."""
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    g_out = channel_groups(out_ch, data_channels, out_period)[:, None]
    g_in = channel_groups(in_ch, data_channels)[None, :]
    return (g_out > g_in if mask_type == "A" else g_out >= g_in).float()


class _MaskedConv(nn.Conv2d):
    """A Conv2d whose weight is multiplied by a fixed 0/1 ``mask`` buffer (same shape)."""

    def _set_mask(self, mask: Tensor) -> None:
        self.register_buffer("mask", mask, persistent=False)
        with torch.no_grad():
            self.weight.mul_(mask)

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)


class MaskedConv2d(_MaskedConv):
    """PixelCNN k x k masked convolution, type "A" (first layer: excludes the current pixel's own
    channel) or "B" (later layers). Same spatial size (padding k // 2)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, mask_type: str, data_channels: int = 1,
                 out_period: int | None = None):
        super().__init__(in_ch, out_ch, kernel_size, padding=kernel_size // 2)
        k, c = kernel_size, kernel_size // 2
        mask = torch.zeros(out_ch, in_ch, k, k)
        mask[:, :, :c, :] = 1
        mask[:, :, c, :c] = 1
        mask[:, :, c, c] = channel_mask(out_ch, in_ch, data_channels, mask_type, out_period)
        self._set_mask(mask)


class HorizontalConv(_MaskedConv):
    """1 x (k//2 + 1) convolution over the current row, left-padded: output (i, j) sees input
    (i, j - k//2 .. j); the tap at (i, j) is channel-masked (type A or B)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, mask_type: str, data_channels: int,
                 out_period: int | None = None):
        w = kernel_size // 2 + 1
        super().__init__(in_ch, out_ch, (1, w))
        self.pad = (w - 1, 0, 0, 0)
        mask = torch.ones(out_ch, in_ch, 1, w)
        mask[:, :, 0, -1] = channel_mask(out_ch, in_ch, data_channels, mask_type, out_period)
        self._set_mask(mask)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, self.pad))


class ChannelMaskedConv1x1(_MaskedConv):
    """1 x 1 convolution that respects the channel groups (type B by default)."""

    def __init__(self, in_ch: int, out_ch: int, data_channels: int, mask_type: str = "B",
                 out_period: int | None = None):
        super().__init__(in_ch, out_ch, 1)
        self._set_mask(channel_mask(out_ch, in_ch, data_channels, mask_type, out_period)[:, :, None, None])


class VerticalConv(nn.Conv2d):
    """(k//2 + 1) x k convolution, top-padded: output (i, j) sees input rows i - k//2 .. i, columns
    j - k//2 .. j + k//2. It includes row i, which is why its output reaches the horizontal stack
    only through ``shift_down``."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int):
        super().__init__(in_ch, out_ch, (kernel_size // 2 + 1, kernel_size))
        c = kernel_size // 2
        self.pad = (c, c, c, 0)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, self.pad))


def shift_down(x: Tensor) -> Tensor:
    """Row i of the result is row i - 1 of ``x`` (zeros on row 0)."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1, :]


class GatedMaskedConv2d(nn.Module):
    """One gated PixelCNN layer with vertical and horizontal stacks (no blind spot).

    ``forward(v, h, cond)`` returns ``(v', h')``. The horizontal path is split out as
    ``horizontal(h, link, cond)`` so a sampler can compute the vertical stack once per row and
    then run only the horizontal stack on the row being generated.
    """

    def __init__(self, in_ch: int, channels: int, kernel_size: int, data_channels: int, first: bool = False,
                 cond_dim: int | None = None, dropout: float = 0.0):
        super().__init__()
        f, c = channels, data_channels
        self.first = first
        self.v_conv = VerticalConv(in_ch, 2 * f, kernel_size)
        self.v_to_h = nn.Conv2d(2 * f, 2 * f, 1)
        self.h_conv = HorizontalConv(in_ch, 2 * f, kernel_size, "A" if first else "B", c, out_period=f)
        self.h_out = ChannelMaskedConv1x1(f, f, c)
        self.cond = nn.Linear(cond_dim, 4 * f, bias=False) if cond_dim else None
        self.dropout = nn.Dropout(dropout)  # elementwise, so it keeps the masks' guarantees

    @staticmethod
    def gate(a: Tensor) -> Tensor:
        f, g = a.chunk(2, dim=1)
        return torch.tanh(f) * torch.sigmoid(g)

    def _cond_bias(self, cond: Tensor | None) -> tuple[Tensor | float, Tensor | float]:
        if self.cond is None or cond is None:
            return 0.0, 0.0
        bv, bh = self.cond(cond)[:, :, None, None].chunk(2, dim=1)
        return bv, bh

    def vertical(self, v: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(v', link)``: the new vertical features and the (shifted) input to the horizontal stack."""
        bv, _ = self._cond_bias(cond)
        v_pre = self.v_conv(v)
        return self.gate(v_pre + bv), self.v_to_h(shift_down(v_pre))

    def horizontal(self, h: Tensor, link: Tensor, cond: Tensor | None = None) -> Tensor:
        _, bh = self._cond_bias(cond)
        out = self.h_out(self.dropout(self.gate(self.h_conv(h) + link + bh)))
        return out if self.first else h + out

    def forward(self, v: Tensor, h: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        v_new, link = self.vertical(v, cond)
        return v_new, self.horizontal(h, link, cond)
