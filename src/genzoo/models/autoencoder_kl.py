"""``autoencoder-kl``: the KL-regularised image autoencoder of latent diffusion (Rombach et al. 2022).

Loss per batch (the perceptual and adversarial terms of Stable Diffusion's autoencoder are left out)::

    z = mean(x) + exp(logvar(x) / 2) eps,   L = mean |x - D(z)|^2 + kl_weight * mean_x KL(q(z|x) || N(0, I))

The latent scaling factor (diffusers' ``scaling_factor``) is ``1 / std(z)`` of training latents, so that
``scaling_factor * z`` has unit variance for the diffusion model: training keeps it as a running
average over batches (``s <- 0.99 s + 0.01 / std(z_batch)``, recorded in the config), and
``fit_scaling_factor(x)`` sets it from a set of images.
``sample`` decodes ``z = eps / scaling_factor``, ``eps ~ N(0, I)``: a crude generator (the KL term is
weak), kept so the family honours the model contract; reconstruction is the point (``reconstruct``).

Saved directories hold genzoo's files and diffusers' layout ``vae/config.json`` +
``vae/diffusion_pytorch_model.safetensors`` (``diffusers.AutoencoderKL.from_pretrained(DIR, subfolder="vae")``).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError, DataError
from ..model import GenerativeModel, ModelConfig
from ..nn.autoencoder_kl import AutoencoderKLNet, diffusers_config_from_vae_kwargs, kl_to_standard_normal
from ..nn.batch_noise import batch_randn_like
from ..registry import register_model
from ..serialization import save_tensors, write_json
from ..utils import model_device, randn, unpack_batch


@dataclasses.dataclass
class AutoencoderKLConfig(ModelConfig):
    shape: tuple[int, ...] = (3, 16, 16)
    latent_channels: int = 4
    block_out_channels: tuple[int, ...] = (32, 64)   # one stride-2 stage per extra level: 16x16 -> 8x8
    layers_per_block: int = 1
    norm_num_groups: int = 8
    mid_attention: bool = True
    kl_weight: float = 1e-5
    scaling_factor: float | None = None              # 1 / std(z) of the training latents; None until fitted


def vae_kwargs(c) -> dict[str, Any]:
    """``AutoencoderKLNet`` arguments of an autoencoder config (or of ``latent-diffusion``'s ``ae_*`` fields)."""
    get = (lambda k: getattr(c, "ae_" + k)) if hasattr(c, "ae_block_out_channels") else (lambda k: getattr(c, k))
    return dict(in_channels=c.shape[0], out_channels=c.shape[0], latent_channels=c.latent_channels,
                block_out_channels=tuple(get("block_out_channels")), layers_per_block=get("layers_per_block"),
                norm_num_groups=get("norm_num_groups"), mid_attention=get("mid_attention"))


def autoencoder_loss(net: AutoencoderKLNet, x: Tensor, kl_weight: float) -> dict[str, Tensor]:
    """Reconstruction MSE + ``kl_weight`` * KL (module docstring); ``"z_std"``: std of the batch's latents."""
    mean, logvar = net.encode(x)
    z = mean + (0.5 * logvar).exp() * batch_randn_like(mean)
    mse = F.mse_loss(net.decode(z).float(), x.float())
    kl = kl_to_standard_normal(mean.float(), logvar.float()).mean()
    return {"loss": mse + kl_weight * kl, "mse": mse.detach(), "kl": kl.detach(), "z_std": z.detach().float().std()}


def running_scale(old: float | None, z_std: Tensor, decay: float = 0.99) -> float:
    """``1 / std(z)`` averaged over training batches (the first batch starts it)."""
    new = 1.0 / max(float(z_std), 1e-6)
    return new if old is None else decay * old + (1 - decay) * new


@torch.no_grad()
def latent_std(net: AutoencoderKLNet, x: Tensor, batch: int = 256) -> float:
    """std of sampled latents ``z ~ q(z|x)`` over ``x`` (fixed noise seed, so it is reproducible)."""
    g = torch.Generator(device=x.device).manual_seed(0)
    zs = []
    for chunk in x.split(batch):
        mean, logvar = net.encode(chunk)
        zs.append(mean + (0.5 * logvar).exp() * randn(mean.shape, generator=g, device=mean.device))
    return float(torch.cat(zs).float().std())


def save_diffusers_vae(net: AutoencoderKLNet, kwargs: dict[str, Any], path: Path, sample_size: int, scale: float | None) -> None:
    """``path/config.json`` + ``path/diffusion_pytorch_model.safetensors`` as diffusers' AutoencoderKL writes them."""
    path.mkdir(exist_ok=True)
    write_json(path / "config.json", diffusers_config_from_vae_kwargs(kwargs, sample_size, 1.0 if scale is None else scale))
    save_tensors(net.state_dict(), path / "diffusion_pytorch_model.safetensors", metadata={"format": "pt"})


@register_model("autoencoder-kl")
class AutoencoderKL(GenerativeModel):
    config_class = AutoencoderKLConfig
    data_kinds = ("image",)
    log_prob_kind = "none"
    fitted_config = ("scaling_factor",)  # a running estimate during training (resume restores it)
    default_budget = {"steps": 1500, "batch_size": 64, "lr": 2e-3}

    def __init__(self, config: AutoencoderKLConfig):
        super().__init__(config)
        if len(config.shape) != 3:
            raise ConfigError(f"autoencoder-kl needs image shapes (C, H, W), got {tuple(config.shape)}")
        self.net = AutoencoderKLNet(**vae_kwargs(config))
        if config.shape[-1] % self.net.downsample or config.shape[-2] % self.net.downsample:
            raise ConfigError(f"{len(config.block_out_channels)} levels downsample by {self.net.downsample}, which must "
                              f"divide the image size {tuple(config.shape[1:])}")

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        c = self.config
        return (c.latent_channels, c.shape[1] // self.net.downsample, c.shape[2] // self.net.downsample)

    @classmethod
    def config_for_data(cls, data, **overrides: Any) -> AutoencoderKLConfig:
        values: dict[str, Any] = {}
        if data is not None:
            values["shape"] = tuple(data.shape)
            if data.shape[0] == 1:
                values["latent_channels"] = 2
        return cls.config_class.from_dict({**values, **overrides})

    @classmethod
    def contract_fixture(cls):
        config = AutoencoderKLConfig(shape=(1, 8, 8), latent_channels=2, block_out_channels=(8, 8), norm_num_groups=4)
        return config, torch.rand(16, 1, 8, 8) * 2 - 1

    def loss(self, batch) -> dict[str, Tensor]:
        x, _ = unpack_batch(batch)
        if tuple(x.shape[1:]) != tuple(self.config.shape):
            raise DataError(f"autoencoder-kl was built for images of shape {tuple(self.config.shape)}, got {tuple(x.shape[1:])}")
        out = autoencoder_loss(self.net, x, self.config.kl_weight)
        if self.training:
            self.config.scaling_factor = running_scale(self.config.scaling_factor, out["z_std"])
        return out

    def fit_scaling_factor(self, x: Tensor) -> float:
        """Set ``scaling_factor = 1 / std(z)`` over the images ``x`` (in [-1, 1]); returns it."""
        self.config.scaling_factor = 1.0 / max(latent_std(self.net, x.to(model_device(self))), 1e-6)
        return self.config.scaling_factor

    @property
    def scale(self) -> float:
        return 1.0 if self.config.scaling_factor is None else self.config.scaling_factor

    @torch.no_grad()
    def encode(self, x: Tensor, sample: bool = False, generator: torch.Generator | None = None) -> Tensor:
        """Scaled latents ``scaling_factor * z`` (the posterior mean, or a draw when ``sample``)."""
        mean, logvar = self.net.encode(x)
        if sample:
            mean = mean + (0.5 * logvar).exp() * randn(mean.shape, generator=generator, device=mean.device)
        return mean * self.scale

    @torch.no_grad()
    def decode(self, z: Tensor) -> Tensor:
        """Images in [-1, 1] from scaled latents."""
        return self.net.decode(z / self.scale).clamp(-1, 1)

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        return self.decode(randn((n, *self.latent_shape), generator=generator, device=model_device(self)))

    def save_extra(self, path) -> None:
        save_diffusers_vae(self.net, vae_kwargs(self.config), Path(path) / "vae", self.config.shape[-1],
                           self.config.scaling_factor)
