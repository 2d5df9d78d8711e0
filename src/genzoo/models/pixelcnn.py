"""Gated PixelCNN: an exact autoregressive model of discrete images.

van den Oord, Kalchbrenner, Kavukcuoglu 2016, "Pixel Recurrent Neural Networks" (masked convs,
type A/B masks, channel ordering R -> G -> B) and van den Oord et al. 2016, "Conditional Image
Generation with PixelCNN Decoders" (gated vertical + horizontal stacks, no blind spot, class
conditioning h_y).

Pixels are ordered in raster order and, within a pixel, by channel:

    p(x | y) = Π_{i,j} Π_c p(v_{c,i,j} | v_{<(i,j)}, v_{<c,(i,j)}, y),

each factor a categorical over the dataset's L levels. Data x in [-1, 1] maps to levels by
v = round((x + 1)(L - 1) / 2). ``log_prob`` is the exact log-mass (nats) of the discrete image, so
bits/dim = -log p / (D ln 2) with no dequantisation term (``discrete_log_prob = True``). A
class-conditional model (``num_classes``) evaluated without labels returns the exact marginal
log Σ_y p(x | y) p(y) with a uniform p(y).

Sampling draws one (pixel, channel) at a time. With ``cache=True`` the vertical stack (everything
above the current row) runs once per row on the rows inside its receptive field, and each pixel
only re-runs the horizontal stack on the part of the current row it can see.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError, DataError
from ..model import GenerativeModel, ModelConfig
from ..nn.masked_conv import ChannelMaskedConv1x1, GatedMaskedConv2d
from ..registry import register_model
from ..utils import rand, unpack_batch


@dataclass
class PixelCNNConfig(ModelConfig):
    shape: tuple[int, ...] = (1, 8, 8)  # (C, H, W)
    levels: int = 256
    channels: int = 64  # feature maps per stack; a multiple of C (split into R/G/B groups)
    n_layers: int = 8
    kernel_size: int = 3
    first_kernel_size: int = 7
    head_channels: int = 128
    num_classes: int | None = None  # class-conditional PixelCNN when set
    dropout: float = 0.0  # on the gated horizontal features, during training


def to_levels(x: Tensor, levels: int) -> Tensor:
    """[-1, 1] floats -> integer levels {0..L-1}: v = round((x + 1)(L - 1) / 2)."""
    return torch.round((x + 1) * (levels - 1) / 2).clamp(0, levels - 1).long()


def from_levels(v: Tensor, levels: int) -> Tensor:
    return v.float() * (2.0 / (levels - 1)) - 1.0


def sample_categorical(logits: Tensor, generator: torch.Generator | None) -> Tensor:
    """One draw per row of ``logits`` (N, L) by inverse CDF with ``generator`` noise."""
    cdf = logits.softmax(-1).cumsum(-1)
    u = rand((len(logits), 1), generator=generator, device=logits.device, dtype=cdf.dtype) * cdf[:, -1:]
    return torch.searchsorted(cdf, u).squeeze(1).clamp_max(logits.shape[-1] - 1)


@register_model("pixelcnn")
class PixelCNN(GenerativeModel):
    config_class = PixelCNNConfig
    data_kinds = ("image",)
    log_prob_kind = "exact"
    discrete_log_prob = True
    default_budget = {"steps": 2000, "batch_size": 64, "lr": 2e-3}

    def __init__(self, config: PixelCNNConfig):
        super().__init__(config)
        c, _, _ = self._chw()
        f = config.channels
        if f % c or config.head_channels % c:
            raise ConfigError(f"pixelcnn channels={f} and head_channels={config.head_channels} must be multiples of the {c} image channels")
        if config.levels < 2:
            raise ConfigError(f"pixelcnn needs levels >= 2, got {config.levels}")
        cond = f if config.num_classes else None
        self.embed = nn.Embedding(config.num_classes, f) if config.num_classes else None
        kernels = [config.first_kernel_size] + [config.kernel_size] * (config.n_layers - 1)
        self.layers = nn.ModuleList(
            GatedMaskedConv2d(c if i == 0 else f, f, k, c, first=(i == 0), cond_dim=cond,
                              dropout=config.dropout) for i, k in enumerate(kernels)
        )
        self.head = nn.Sequential(nn.ReLU(), ChannelMaskedConv1x1(f, config.head_channels, c), nn.ReLU(),
                                  ChannelMaskedConv1x1(config.head_channels, c * config.levels, c))
        # rows (above) and columns (left) that the output at one pixel depends on
        self.reach = sum(k // 2 for k in kernels)

    def _chw(self) -> tuple[int, int, int]:
        if len(self.config.shape) != 3:
            raise ConfigError(f"pixelcnn needs an image shape (C, H, W), got {self.config.shape}")
        return tuple(self.config.shape)

    @classmethod
    def config_for_data(cls, data, **overrides) -> PixelCNNConfig:
        base = {}
        if data is not None:
            if data.kind not in ("image", "binary") or len(data.shape) != 3:
                raise DataError(f"pixelcnn models images (C, H, W); dataset {data.name!r} has kind {data.kind!r} and shape {data.shape}")
            base = {"shape": tuple(data.shape), "levels": data.levels or 256}
        return PixelCNNConfig.from_dict({**base, **overrides})

    @classmethod
    def contract_fixture(cls):
        g = torch.Generator().manual_seed(0)
        v = torch.randint(0, 4, (8, 1, 4, 4), generator=g)
        return PixelCNNConfig(shape=(1, 4, 4), levels=4, channels=8, n_layers=2, kernel_size=3,
                              first_kernel_size=3, head_channels=8), from_levels(v, 4)

    # --- network -----------------------------------------------------------------------
    def _cond(self, y: Tensor | None, n: int) -> Tensor | None:
        if self.embed is None:
            return None
        if y is None:
            raise DataError("this pixelcnn is class-conditional (num_classes is set); pass labels y")
        return self.embed(y.long().to(self.embed.weight.device).expand(n))

    def _check(self, x: Tensor) -> None:
        if tuple(x.shape[1:]) != tuple(self.config.shape):
            raise DataError(f"pixelcnn expects images of shape {tuple(self.config.shape)}, got {tuple(x.shape[1:])}; rebuild the model for this data")

    def _logits(self, h: Tensor) -> Tensor:
        """(N, F, H', W') features -> (N, C, L, H', W') logits."""
        out = self.head(h)
        n, _, hh, ww = out.shape
        return out.view(n, self.config.shape[0], self.config.levels, hh, ww)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Logits (N, C, L, H, W) of every pixel's categorical given the pixels before it."""
        cond = self._cond(y, len(x))
        v = h = x
        for layer in self.layers:
            v, h = layer(v, h, cond)
        return self._logits(h)

    def _log_prob_given(self, x: Tensor, y: Tensor | None) -> Tensor:
        logp = self(x, y).log_softmax(dim=2)
        v = to_levels(x, self.config.levels).unsqueeze(2)
        return logp.gather(2, v).squeeze(2).flatten(1).sum(1)

    # --- contract ------------------------------------------------------------------------
    def log_prob(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        self._check(x)
        if self.embed is None or y is not None:
            return self._log_prob_given(x, y)
        k = self.config.num_classes  # marginalise the label under a uniform prior
        per_class = [self._log_prob_given(x, torch.full((len(x),), c, dtype=torch.long)) for c in range(k)]
        return torch.logsumexp(torch.stack(per_class, 1), dim=1) - math.log(k)

    def loss(self, batch) -> dict[str, Tensor]:
        x, y = unpack_batch(batch)
        self._check(x)
        logits = self(x, y)  # (N, C, L, H, W)
        nll = F.cross_entropy(logits.transpose(1, 2), to_levels(x, self.config.levels))
        return {"loss": nll, "bpd": nll.detach() / math.log(2)}

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, y: Tensor | None = None,
               cache: bool = True, temperature: float = 1.0, **kw) -> Tensor:
        """``n`` images in [-1, 1], drawn pixel by pixel (labels ``y`` default to 0, 1, 2, ... mod K)."""
        c, hgt, wid = self._chw()
        device = next(self.parameters()).device
        if self.embed is not None and y is None:
            y = torch.arange(n) % self.config.num_classes
        cond = self._cond(y.to(device) if y is not None else None, n)
        x = torch.zeros(n, c, hgt, wid, device=device)
        for i in range(hgt):
            links = self._row_links(x, i, cond) if cache else None
            for j in range(wid):
                for ch in range(c):
                    logits = self._pixel_logits(x, i, j, links, cond) if cache else self(x, y)[:, :, :, i, j]
                    v = sample_categorical(logits[:, ch] / temperature, generator)
                    x[:, ch, i, j] = from_levels(v, self.config.levels)
        return x

    def _row_links(self, x: Tensor, i: int, cond: Tensor | None) -> list[Tensor]:
        """Vertical-stack inputs to the horizontal stack on row ``i`` (one per layer), computed on
        the rows above ``i`` that are inside the receptive field."""
        lo = max(0, i - 1 - self.reach)
        v, links = x[:, :, lo:i + 1], []
        for layer in self.layers:
            v, link = layer.vertical(v, cond)
            links.append(link[:, :, -1:])
        return links

    def _pixel_logits(self, x: Tensor, i: int, j: int, links: list[Tensor], cond: Tensor | None) -> Tensor:
        """Logits (N, C, L) at pixel (i, j), running only the horizontal stack on row i, columns
        j - reach .. j."""
        lo = max(0, j - self.reach)
        h = x[:, :, i:i + 1, lo:j + 1]
        for layer, link in zip(self.layers, links):
            h = layer.horizontal(h, link[..., lo:j + 1], cond)
        return self._logits(h)[:, :, :, 0, -1]
