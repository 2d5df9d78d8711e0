"""Reading diffusers' latent-diffusion layouts into genzoo models (``genzoo.formats`` dispatches here).

- a lone ``AutoencoderKL`` directory (``config.json`` + ``diffusion_pytorch_model.safetensors``) -> ``autoencoder-kl``;
- a lone ``UNet2DConditionModel`` directory -> ``latent-diffusion`` without an autoencoder (the U-Net's space is the
  image space, sampled with ``DDPMScheduler()``'s defaults) and genzoo's MiniLM text encoder;
- a pipeline directory (``model_index.json``) with ``unet/`` (UNet2DConditionModel), ``scheduler/`` and
  optionally ``vae/`` (AutoencoderKL) -> ``latent-diffusion`` (what ``LatentDiffusion.save_pretrained`` writes,
  with the prompt length in ``_genzoo_caption_length``; 16 tokens when absent).

The text encoder is always genzoo's frozen MiniLM: a U-Net whose ``cross_attention_dim`` is not 384 loads,
but sampling it says so in one line.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import CheckpointError, ConfigError
from ..nn.autoencoder_kl import vae_kwargs_from_diffusers
from ..nn.unet_cond import cond_unet_kwargs_from_diffusers
from ..serialization import load_state_into, load_tensors, read_json

WEIGHTS = "diffusion_pytorch_model.safetensors"


def _kwargs(path: Path, fn, cfg: dict) -> dict:
    try:
        return fn(cfg)
    except ConfigError as e:
        raise CheckpointError(f"{path / 'config.json'}: {e}") from None


def load_diffusers_vae(path):
    """A genzoo ``autoencoder-kl`` from a diffusers ``AutoencoderKL`` directory."""
    from ..pipelines.diffusion import sample_size
    from .autoencoder_kl import AutoencoderKL, AutoencoderKLConfig

    path = Path(path)
    cfg = read_json(path / "config.json")
    kw = _kwargs(path, vae_kwargs_from_diffusers, cfg)
    if kw["in_channels"] != kw["out_channels"] or not kw["use_quant_conv"] or not kw["use_post_quant_conv"]:
        raise CheckpointError(f"{path}: AutoencoderKL with different in/out channels or without quant convs is not supported")
    size = sample_size(cfg)
    config = AutoencoderKLConfig(shape=(kw["in_channels"], size, size), latent_channels=kw["latent_channels"],
                                 block_out_channels=kw["block_out_channels"], layers_per_block=kw["layers_per_block"],
                                 norm_num_groups=kw["norm_num_groups"], mid_attention=kw["mid_attention"],
                                 scaling_factor=cfg.get("scaling_factor"))
    model = AutoencoderKL(config)
    load_state_into(model.net, load_tensors(path / WEIGHTS), path / WEIGHTS)
    return model.eval()


def load_diffusers_latent(path, unet_dir: Path | None = None, vae_dir: Path | None = None, scheduler: dict | None = None,
                          caption_length: int = 16):
    """A genzoo ``latent-diffusion`` from a UNet2DConditionModel directory (and an AutoencoderKL, a scheduler)."""
    from ..pipelines.diffusion import sample_size, schedule_fields
    from .latent_diffusion import LatentDiffusion, LatentDiffusionConfig, check_latent_channels

    path = Path(path)
    unet_dir = unet_dir or path
    ucfg = read_json(unet_dir / "config.json")
    kw = _kwargs(unet_dir, cond_unet_kwargs_from_diffusers, ucfg)
    if kw["in_channels"] != kw["out_channels"]:
        raise CheckpointError(f"{unet_dir}: a U-Net with {kw['in_channels']} input and {kw['out_channels']} output channels "
                              "is not supported")
    latent = sample_size(ucfg, 8)
    fields = dict(shape=(kw["in_channels"], latent, latent), ae_block_out_channels=(), latent_channels=kw["in_channels"])
    vae = None
    if vae_dir is not None:
        vae = load_diffusers_vae(vae_dir)
        try:
            check_latent_channels(vae.config.latent_channels, kw["in_channels"])
        except ConfigError as e:
            raise CheckpointError(f"{path}: {e}") from None
        c = vae.config
        fields = dict(shape=(c.shape[0], latent * vae.net.downsample, latent * vae.net.downsample), latent_channels=c.latent_channels,
                      ae_block_out_channels=tuple(c.block_out_channels), ae_layers_per_block=c.layers_per_block,
                      ae_norm_num_groups=c.norm_num_groups, ae_mid_attention=c.mid_attention, scaling_factor=c.scaling_factor,
                      autoencoder_steps=0)
    unet_fields = {k: kw[k] for k in ("block_out_channels", "layers_per_block", "attention_levels", "norm_num_groups",
                                      "attention_head_dim", "cross_attention_dim", "dropout", "norm_eps", "flip_sin_to_cos",
                                      "freq_shift", "transformer_layers", "use_linear_projection")}
    sched = schedule_fields(path, scheduler or {"_class_name": "DDPMScheduler"})
    config = LatentDiffusionConfig(**fields, **unet_fields, **sched, caption_length=caption_length)
    model = LatentDiffusion(config)
    load_state_into(model.net, load_tensors(unet_dir / WEIGHTS), unet_dir / WEIGHTS)
    if vae is not None:
        model.autoencoder.load_state_dict(vae.net.state_dict())
    return model.eval()


def load_diffusers_latent_pipeline(path):
    """``model_index.json`` + ``unet/`` + ``scheduler/`` (+ ``vae/``)."""
    path = Path(path)
    index = read_json(path / "model_index.json")
    scheduler = read_json(path / "scheduler" / "scheduler_config.json") if (path / "scheduler").is_dir() else None
    vae = path / "vae" if "vae" in index and (path / "vae").is_dir() else None
    return load_diffusers_latent(path, path / "unet", vae, scheduler, index.get("_genzoo_caption_length", 16))
