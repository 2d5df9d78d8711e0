"""The KL-regularised autoencoder of latent diffusion (Rombach et al. 2022), laid out exactly like
diffusers' ``AutoencoderKL`` so its checkpoints load by name (same blocks as ``nn/unet.py``, no timestep).

    encoder: conv_in -> [ResBlock x layers, stride-2 conv (pad right/bottom)] x levels (no downsampling last)
             -> mid (ResBlock, self-attention, ResBlock) -> GN -> SiLU -> conv_out (2 * latent channels)
    quant_conv (1x1) -> (mean, log variance), logvar clamped to [-30, 20];  z = mean + exp(logvar / 2) eps
    decoder: post_quant_conv (1x1) -> conv_in -> mid -> [ResBlock x (layers + 1), nearest x2 + conv] x levels
             -> GN -> SiLU -> conv_out

KL to N(0, I) per example: ``KL = 1/2 sum(mean^2 + var - 1 - logvar)``. The diffusion model works on
``scaling_factor * z`` (diffusers' convention; genzoo sets it to 1 / std(z) of the training data).
"""
from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ..errors import ConfigError
from .unet import Downsample2D, MidBlock, ResnetBlock2D, Upsample2D, norm_act

EPS = 1e-6  # diffusers' AutoencoderKL GroupNorm epsilon


class _Block(nn.Module):
    """``DownEncoderBlock2D`` / ``UpDecoderBlock2D``: ResBlocks then an optional resampler."""

    def __init__(self, in_channels: int, out_channels: int, layers: int, groups: int, resample: str | None):
        super().__init__()
        self.resnets = nn.ModuleList(ResnetBlock2D(in_channels if j == 0 else out_channels, out_channels, None, groups, EPS)
                                     for j in range(layers))
        if resample == "down":
            self.downsamplers = nn.ModuleList([Downsample2D(out_channels, padding=0)])
        elif resample == "up":
            self.upsamplers = nn.ModuleList([Upsample2D(out_channels)])

    def forward(self, x: Tensor) -> Tensor:
        for resnet in self.resnets:
            x = resnet(x)
        for name in ("downsamplers", "upsamplers"):
            if hasattr(self, name):
                x = getattr(self, name)[0](x)
        return x


class Encoder(nn.Module):
    def __init__(self, in_channels: int, latent_channels: int, chs: tuple[int, ...], layers: int, groups: int, attention: bool):
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, chs[0], 3, padding=1)
        prev = [chs[0], *chs[:-1]]
        self.down_blocks = nn.ModuleList(_Block(p, c, layers, groups, "down" if i < len(chs) - 1 else None)
                                         for i, (p, c) in enumerate(zip(prev, chs)))
        self.mid_block = MidBlock(chs[-1], None, attention, head_dim=chs[-1], groups=groups, eps=EPS, dropout=0.0)
        self.conv_norm_out = nn.GroupNorm(groups, chs[-1], eps=EPS)
        self.conv_out = nn.Conv2d(chs[-1], 2 * latent_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv_in(x)
        for block in self.down_blocks:
            h = block(h)
        return self.conv_out(norm_act(self.conv_norm_out, self.mid_block(h, None)))


class Decoder(nn.Module):
    def __init__(self, latent_channels: int, out_channels: int, chs: tuple[int, ...], layers: int, groups: int, attention: bool):
        super().__init__()
        rev = list(reversed(chs))
        self.conv_in = nn.Conv2d(latent_channels, rev[0], 3, padding=1)
        self.mid_block = MidBlock(rev[0], None, attention, head_dim=rev[0], groups=groups, eps=EPS, dropout=0.0)
        prev = [rev[0], *rev[:-1]]
        self.up_blocks = nn.ModuleList(_Block(p, c, layers + 1, groups, "up" if i < len(rev) - 1 else None)
                                       for i, (p, c) in enumerate(zip(prev, rev)))
        self.conv_norm_out = nn.GroupNorm(groups, chs[0], eps=EPS)
        self.conv_out = nn.Conv2d(chs[0], out_channels, 3, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        h = self.mid_block(self.conv_in(z), None)
        for block in self.up_blocks:
            h = block(h)
        return self.conv_out(norm_act(self.conv_norm_out, h))


class AutoencoderKLNet(nn.Module):
    """``encode(x) -> (mean, logvar)``, ``decode(z) -> x``; module names match diffusers' AutoencoderKL."""

    def __init__(self, in_channels: int = 3, out_channels: int | None = None, latent_channels: int = 4,
                 block_out_channels: tuple[int, ...] = (32, 64), layers_per_block: int = 1, norm_num_groups: int = 8,
                 mid_attention: bool = True, use_quant_conv: bool = True, use_post_quant_conv: bool = True):
        super().__init__()
        chs = tuple(block_out_channels)
        if not chs or any(c % norm_num_groups for c in chs):
            raise ConfigError(f"norm_num_groups={norm_num_groups} must divide every block_out_channels {chs}")
        self.latent_channels, self.downsample = latent_channels, 2 ** (len(chs) - 1)
        self.encoder = Encoder(in_channels, latent_channels, chs, layers_per_block, norm_num_groups, mid_attention)
        self.decoder = Decoder(latent_channels, out_channels or in_channels, chs, layers_per_block, norm_num_groups, mid_attention)
        self.quant_conv = nn.Conv2d(2 * latent_channels, 2 * latent_channels, 1) if use_quant_conv else None
        self.post_quant_conv = nn.Conv2d(latent_channels, latent_channels, 1) if use_post_quant_conv else None

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.encoder(x)
        if self.quant_conv is not None:
            h = self.quant_conv(h)
        mean, logvar = h.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z if self.post_quant_conv is None else self.post_quant_conv(z))


def kl_to_standard_normal(mean: Tensor, logvar: Tensor) -> Tensor:
    """Per-example ``1/2 sum(mean^2 + exp(logvar) - 1 - logvar)`` (diffusers' DiagonalGaussianDistribution.kl)."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).flatten(1).sum(1)


# --- diffusers AutoencoderKL config <-> genzoo arguments ----------------------------------------------
def vae_kwargs_from_diffusers(cfg: dict[str, Any]) -> dict[str, Any]:
    """``AutoencoderKLNet`` arguments from a diffusers ``AutoencoderKL`` config.json (supported layouts only)."""
    if cfg.get("_class_name", "AutoencoderKL") != "AutoencoderKL":
        raise ConfigError(f"config.json describes a {cfg['_class_name']}, not an AutoencoderKL")
    down, up = cfg.get("down_block_types", []), cfg.get("up_block_types", [])
    if any(d != "DownEncoderBlock2D" for d in down) or any(u != "UpDecoderBlock2D" for u in up):
        raise ConfigError("AutoencoderKL blocks other than DownEncoderBlock2D / UpDecoderBlock2D are not supported")
    if cfg.get("act_fn", "silu") != "silu":
        raise ConfigError(f"AutoencoderKL act_fn={cfg['act_fn']!r} is not supported (genzoo needs 'silu')")
    return dict(in_channels=cfg.get("in_channels", 3), out_channels=cfg.get("out_channels", 3),
                latent_channels=cfg.get("latent_channels", 4), block_out_channels=tuple(cfg.get("block_out_channels", (64,))),
                layers_per_block=cfg.get("layers_per_block", 1), norm_num_groups=cfg.get("norm_num_groups", 32),
                mid_attention=cfg.get("mid_block_add_attention", True), use_quant_conv=cfg.get("use_quant_conv", True),
                use_post_quant_conv=cfg.get("use_post_quant_conv", True))


def diffusers_config_from_vae_kwargs(kw: dict[str, Any], sample_size: int, scaling_factor: float) -> dict[str, Any]:
    """The diffusers ``AutoencoderKL`` config.json describing an ``AutoencoderKLNet``."""
    n = len(kw["block_out_channels"])
    return {"_class_name": "AutoencoderKL", "_diffusers_version": "0.42.1", "act_fn": "silu",
            "in_channels": kw["in_channels"], "out_channels": kw.get("out_channels") or kw["in_channels"],
            "latent_channels": kw["latent_channels"], "block_out_channels": list(kw["block_out_channels"]),
            "down_block_types": ["DownEncoderBlock2D"] * n, "up_block_types": ["UpDecoderBlock2D"] * n,
            "layers_per_block": kw["layers_per_block"], "norm_num_groups": kw["norm_num_groups"],
            "sample_size": sample_size, "scaling_factor": scaling_factor, "shift_factor": None,
            "latents_mean": None, "latents_std": None, "force_upcast": False,
            "use_quant_conv": kw.get("use_quant_conv", True), "use_post_quant_conv": kw.get("use_post_quant_conv", True),
            "mid_block_add_attention": kw.get("mid_attention", True)}
