"""``latent-diffusion``: text-to-image diffusion in an autoencoder's latent space (Rombach et al. 2022).

Three parts: a KL autoencoder ``E, D`` (``autoencoder-kl``'s network), the frozen MiniLM text encoder
``tau`` (token states, ``features/text_tokens.py``; not saved with the model) and a U-Net with
cross-attention transformer blocks ``eps_theta(z_t, t, tau(y))`` (``nn/unet_cond.py``). Training has two
stages in one run (the Trainer's manual path):

1. steps ``< autoencoder_steps``: the autoencoder loss (reconstruction MSE + ``kl_weight`` KL); the latent
   scaling factor ``s`` follows ``1 / std(z)`` (``models/autoencoder_kl.py``). Skipped when ``autoencoder``
   names a trained ``autoencoder-kl`` run (or diffusers AutoencoderKL directory) to start from, and when
   ``ae_block_out_channels=()`` (diffusion in pixel space, the baseline of the latent-vs-pixel benchmark).
2. then DDPM's simple loss on ``z_0 = s * z``, ``z ~ q(z|x)`` (``models/diffusion.py``), with the caption
   replaced by the empty prompt with probability ``label_dropout`` (prompt dropout).

Sampling runs any genzoo sampler on the latents with classifier-free guidance (Ho & Salimans 2022)::

    eps = eps(z, t, tau(neg)) + w (eps(z, t, tau(prompt)) - eps(z, t, tau(neg)))

where ``neg`` is the negative prompt (default: the empty prompt), ``w >= 1`` the guidance scale, and
decodes ``x = D(z_0 / s)``. The empty prompt samples the unconditional model.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import ConfigError, DataError, NotSupported
from ..features.text_tokens import HIDDEN, TextContext, check_encoder, empty_ids, tokenize
from ..model import GenerativeModel
from ..nn.autoencoder_kl import AutoencoderKLNet
from ..nn.batch_noise import batch_rand
from ..nn.unet_cond import ConditionalUNet2D, diffusers_config_from_cond_kwargs
from ..registry import register_model
from ..samplers.denoise import canonical_sampler, denoise
from ..samplers.noise_schedule import NoiseSchedule, canonical_prediction
from ..serialization import save_tensors, write_json
from ..utils import model_device, randn, unpack_batch
from .autoencoder_kl import autoencoder_loss, latent_std, running_scale, save_diffusers_vae, vae_kwargs
from .diffusion import DDPM, DDPMConfig


@dataclasses.dataclass
class LatentDiffusionConfig(DDPMConfig):
    shape: tuple[int, ...] = (3, 16, 16)          # the images
    # autoencoder; ae_block_out_channels=() means no autoencoder (pixel-space diffusion)
    latent_channels: int = 4
    ae_block_out_channels: tuple[int, ...] = (16, 32)
    ae_layers_per_block: int = 1
    ae_norm_num_groups: int = 8
    ae_mid_attention: bool = True
    kl_weight: float = 1e-5
    scaling_factor: float | None = None
    autoencoder_steps: int = 800
    autoencoder: str | None = None                # a trained autoencoder to start from (skips stage 1)
    # text conditioning
    text_encoder: str = "minilm"
    caption_length: int = 16
    cross_attention_dim: int = HIDDEN
    transformer_layers: int = 1
    use_linear_projection: bool = True
    label_dropout: float = 0.1                    # prompt dropout
    guidance_scale: float = 3.0
    # diffusion on latents: Stable Diffusion's schedule, no clipping of latents
    beta_schedule: str = "scaled_linear"
    beta_start: float = 0.00085
    beta_end: float = 0.012
    clip_sample: bool | None = None               # None: clip x0 in pixel space only (is_image)
    block_out_channels: tuple[int, ...] = (32, 64)
    attention_levels: tuple[int, ...] = (0, 1)
    attention_head_dim: int = 16


def check_guidance(scale: float) -> float:
    scale = float(scale)
    if not scale >= 1.0:
        raise ConfigError(f"guidance scale must be >= 1 (1 = no guidance, 3-7 typical), got {scale:g}")
    return scale


def check_latent_channels(autoencoder_channels: int, unet_channels: int) -> None:
    if autoencoder_channels != unet_channels:
        raise ConfigError(f"the autoencoder has {autoencoder_channels} latent channels but the U-Net takes "
                          f"{unet_channels}; use an autoencoder and U-Net made for each other (latent_channels)")


@register_model("latent-diffusion")
class LatentDiffusion(DDPM):
    config_class = LatentDiffusionConfig
    data_kinds = ("image",)
    log_prob_kind = "none"
    fitted_config = ("scaling_factor",)  # a running estimate during training (resume restores it)
    manual_optimization = True
    #: shapes-captions on one CPU thread: ~0.12 s an autoencoder step, ~0.3 s a U-Net step (batch 64)
    default_budget = {"steps": 4000, "batch_size": 64, "lr": 1e-3}

    def __init__(self, config: LatentDiffusionConfig):
        GenerativeModel.__init__(self, config)
        c = config
        self.prediction = canonical_prediction(c.prediction)
        canonical_sampler(c.sampler)
        check_encoder(c.text_encoder)
        if c.num_classes is not None:
            raise ConfigError("latent-diffusion is conditioned on captions, not class labels; leave num_classes unset")
        if len(c.shape) != 3:
            raise ConfigError(f"latent-diffusion needs image shapes (C, H, W), got {tuple(c.shape)}")
        self.schedule = NoiseSchedule.create(c.beta_schedule, c.num_train_timesteps, c.beta_start, c.beta_end)
        self.autoencoder = AutoencoderKLNet(**vae_kwargs(c)) if c.ae_block_out_channels else None
        ds = self.autoencoder.downsample if self.autoencoder is not None else 1
        if c.shape[1] % ds or c.shape[2] % ds:
            raise ConfigError(f"the autoencoder downsamples by {ds}, which must divide the image size {tuple(c.shape[1:])}")
        self.net = ConditionalUNet2D(**self.unet_kwargs())
        self.text = TextContext(c.text_encoder)

    @property
    def is_image(self) -> bool:
        """Whether the diffusion runs on images (no autoencoder): then predicted x0 is clipped to [-1, 1]."""
        return self.autoencoder is None

    @property
    def latent_shape(self) -> tuple[int, ...]:
        c = self.config
        if self.autoencoder is None:
            return tuple(c.shape)
        ds = self.autoencoder.downsample
        return (c.latent_channels, c.shape[1] // ds, c.shape[2] // ds)

    def unet_kwargs(self) -> dict[str, Any]:
        c = self.config
        ch = self.latent_shape[0]
        return dict(in_channels=ch, out_channels=ch, block_out_channels=tuple(c.block_out_channels),
                    layers_per_block=c.layers_per_block, attention_levels=tuple(c.attention_levels),
                    norm_num_groups=c.norm_num_groups, attention_head_dim=c.attention_head_dim, dropout=c.dropout,
                    norm_eps=c.norm_eps, flip_sin_to_cos=c.flip_sin_to_cos, freq_shift=c.freq_shift,
                    cross_attention_dim=c.cross_attention_dim, transformer_layers=c.transformer_layers,
                    use_linear_projection=c.use_linear_projection)

    # --- building -------------------------------------------------------------------------
    @classmethod
    def supports(cls, data) -> bool:
        return data.kind == "image" and data.info.get("conditioning") == "text"

    @classmethod
    def config_for_data(cls, data, **overrides: Any) -> LatentDiffusionConfig:
        values: dict[str, Any] = {}
        if data is not None:
            values["shape"] = tuple(data.shape)
            values["caption_length"] = data.info.get("caption_length", 16)
            if data.shape[0] == 1:
                values["latent_channels"] = 2
        return cls.config_class.from_dict({**values, **overrides})

    @classmethod
    def contract_fixture(cls):
        config = LatentDiffusionConfig(shape=(1, 8, 8), latent_channels=2, ae_block_out_channels=(8, 8), ae_norm_num_groups=4,
                                       block_out_channels=(16, 16), norm_num_groups=8, attention_levels=(1,),
                                       attention_head_dim=8, caption_length=8, autoencoder_steps=2,
                                       num_train_timesteps=100, sample_steps=3)
        x = torch.rand(8, 1, 8, 8) * 2 - 1
        return config, (x, tokenize(["a handwritten one", "a handwritten two"] * 4, 8))

    def attach_data(self, data) -> None:
        if data is not None and not self.supports(data):
            raise DataError(f"latent-diffusion trains on captioned images (shapes-captions, digits-captions); "
                            f"{data.name!r} has no captions")
        if self.config.autoencoder:
            self.load_autoencoder(self.config.autoencoder)

    def load_autoencoder(self, path) -> None:
        """Take over the weights and scaling factor of a trained autoencoder (genzoo or diffusers directory)."""
        from ..formats import load_any
        from .autoencoder_kl import AutoencoderKL

        ae = load_any(path)
        if not isinstance(ae, AutoencoderKL):
            raise ConfigError(f"autoencoder={path} holds a {ae.model_type!r} model, not an autoencoder-kl")
        if self.autoencoder is None:
            raise ConfigError("autoencoder= needs the latent model (ae_block_out_channels set)")
        check_latent_channels(ae.config.latent_channels, self.latent_shape[0])
        if vae_kwargs(ae.config) != vae_kwargs(self.config):
            raise ConfigError(f"autoencoder={path} has another architecture than ae_* of this config; set them to "
                              f"block_out_channels={tuple(ae.config.block_out_channels)} etc.")
        self.autoencoder.load_state_dict(ae.net.state_dict())
        self.config.scaling_factor = ae.config.scaling_factor

    # --- text -----------------------------------------------------------------------------
    def prompt_ids(self, prompts, n: int) -> Tensor:
        """Token ids (n, caption_length) of ``prompts``: None/"" (unconditional), one string, or n strings."""
        if prompts is None:
            prompts = ""
        if isinstance(prompts, str):
            prompts = [prompts] * n
        prompts = list(prompts)
        if len(prompts) == 1:
            prompts = prompts * n
        if len(prompts) != n:
            raise ConfigError(f"got {len(prompts)} prompts for {n} images; give one prompt or one per image")
        return tokenize(prompts, self.config.caption_length)

    def context(self, ids: Tensor) -> Tensor:
        return self.text(ids).to(model_device(self))

    # --- training -------------------------------------------------------------------------
    @property
    def stage1_steps(self) -> int:
        c = self.config
        return 0 if self.autoencoder is None or c.autoencoder else c.autoencoder_steps

    def configure_optimizers(self, lr: float, weight_decay: float = 0.0, betas=(0.9, 0.999)):
        parts = [self.net] if self.autoencoder is None else [self.autoencoder, self.net]
        return [torch.optim.AdamW(p.parameters(), lr=lr, weight_decay=weight_decay, betas=betas) for p in parts]

    def _batch(self, batch) -> tuple[Tensor, Tensor]:
        x, ids = unpack_batch(batch)
        if tuple(x.shape[1:]) != tuple(self.config.shape):
            raise DataError(f"latent-diffusion was built for images of shape {tuple(self.config.shape)}, got {tuple(x.shape[1:])}")
        if ids is None or ids.ndim != 2:
            raise DataError("latent-diffusion needs (images, caption token ids) batches: train on shapes-captions or digits-captions")
        return x, ids

    def latents(self, x: Tensor, generator: torch.Generator | None = None, sample: bool = True) -> Tensor:
        """``s * z`` with ``z ~ q(z|x)`` (or the posterior mean); the images themselves in pixel space."""
        if self.autoencoder is None:
            return x
        with torch.no_grad():
            mean, logvar = self.autoencoder.encode(x)
            if sample:
                mean = mean + (0.5 * logvar).exp() * randn(mean.shape, generator=generator, device=mean.device)
            return mean * self.scale

    @property
    def scale(self) -> float:
        return 1.0 if self.config.scaling_factor is None else self.config.scaling_factor

    def loss(self, batch) -> dict[str, Tensor]:
        """The stage-2 (diffusion) loss with prompt dropout."""
        x, ids = self._batch(batch)
        n = x.shape[0]
        empty = empty_ids(self.config.caption_length)
        if self.config.label_dropout > 0:
            drop = batch_rand(n, device=x.device).cpu() < self.config.label_dropout
            ids = torch.where(drop[:, None], empty, ids.cpu())
        ctx = self.context(ids)
        return self.denoising_loss(self.latents(x), lambda zt, t: self.net(zt, t, ctx))

    def training_step(self, batch, step: int, *, optimizers: list[torch.optim.Optimizer]) -> dict[str, float]:
        x, _ = self._batch(batch)
        stage1 = step < self.stage1_steps
        if stage1:
            out = autoencoder_loss(self.autoencoder, x, self.config.kl_weight)
            self.config.scaling_factor = running_scale(self.config.scaling_factor, out["z_std"])
        else:
            if self.autoencoder is not None and self.config.scaling_factor is None:
                self.config.scaling_factor = 1.0 / max(latent_std(self.autoencoder, x), 1e-6)
            out = self.loss(batch)
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        params = [p for p in self.parameters() if p.grad is not None]  # this stage's part only
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        for opt in optimizers:  # the other part has no gradients: its step is a no-op
            opt.step()
        logs = {k: float(v.detach()) for k, v in out.items() if k != "z_std"}
        return {**logs, "stage": 1.0 if stage1 else 2.0}

    def log_prob(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        raise NotSupported("latent-diffusion has no likelihood; evaluate it with sample-based metrics (fid) "
                           "or benchmarks/text_to_image.py (attribute accuracy)")

    # --- sampling -------------------------------------------------------------------------
    def text_guided_fn(self, ctx: Tensor, uncond: Tensor | None, guidance_scale: float):
        """``fn(z, t)``: the U-Net on the prompt's context, with classifier-free guidance when scale != 1."""
        if uncond is None or guidance_scale == 1.0:
            return lambda z, t: self.net(z, t, ctx)
        both = torch.cat([ctx, uncond])

        def fn(z: Tensor, t) -> Tensor:
            cond, unc = self.net(torch.cat([z, z]), t, both).chunk(2)
            return unc + guidance_scale * (cond - unc)

        return fn

    def prompt_fn(self, n: int, prompt, negative_prompt, guidance_scale: float | None):
        """The guided network for ``n`` images of ``prompt`` (module docstring)."""
        scale = check_guidance(self.config.guidance_scale if guidance_scale is None else guidance_scale)
        ctx = self.context(self.prompt_ids(prompt, n))
        uncond = self.context(self.prompt_ids(negative_prompt or "", n)) if scale != 1.0 else None
        return self.text_guided_fn(ctx, uncond, scale)

    def decode_latents(self, z: Tensor) -> Tensor:
        if self.autoencoder is None:
            return z.clamp(-1, 1)
        with torch.no_grad():
            return self.autoencoder.decode(z / self.scale).clamp(-1, 1)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, prompt=None, negative_prompt=None,
               guidance_scale: float | None = None, steps: int | None = None, sampler: str | None = None,
               eta: float | None = None, timestep_spacing: str | None = None, noise: Tensor | None = None,
               callback=None, output: str = "images") -> Tensor:
        """``n`` images in [-1, 1] for ``prompt`` (None or "": unconditional); ``output="latents"`` skips decoding."""
        fn = self.prompt_fn(n, prompt, negative_prompt, guidance_scale)
        smp = self.make_sampler(sampler, steps, eta=eta, timestep_spacing=timestep_spacing)
        if noise is None:
            noise = randn((n, *self.latent_shape), generator=generator, device=model_device(self))
        z = denoise(fn, smp, noise, generator=generator, callback=callback)
        return z if output == "latents" else self.decode_latents(z)

    # --- persistence: diffusers' vae/ + unet/ + scheduler/ beside genzoo's files ------------
    def save_extra(self, path) -> None:
        path = Path(path)
        (path / "scheduler").mkdir(exist_ok=True)
        write_json(path / "scheduler" / "scheduler_config.json", self.scheduler_config())
        (path / "unet").mkdir(exist_ok=True)
        write_json(path / "unet" / "config.json", diffusers_config_from_cond_kwargs(self.unet_kwargs(), self.latent_shape[-1]))
        save_tensors(self.net.state_dict(), path / "unet" / "diffusion_pytorch_model.safetensors", metadata={"format": "pt"})
        index = {"_class_name": "DiffusionPipeline", "_diffusers_version": "0.42.1",  # "_" keys: diffusers skips them
                 "_genzoo_text_encoder": self.config.text_encoder, "_genzoo_caption_length": self.config.caption_length,
                 "scheduler": ["diffusers", self.scheduler_config()["_class_name"]], "unet": ["diffusers", "UNet2DConditionModel"]}
        if self.autoencoder is not None:
            save_diffusers_vae(self.autoencoder, vae_kwargs(self.config), path / "vae", self.config.shape[-1],
                               self.config.scaling_factor)
            index["vae"] = ["diffusers", "AutoencoderKL"]
        write_json(path / "model_index.json", index)
