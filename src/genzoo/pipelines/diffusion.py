"""``DiffusionPipeline``: diffusers-style image generation from a saved directory.

    pipe = gz.pipelines.DiffusionPipeline.from_pretrained(DIR)
    images = pipe(batch_size=16, num_inference_steps=20, guidance_scale=3.0, class_labels=[1, 2, ...],
                  generator=torch.Generator().manual_seed(0), output_type="pil").images

``DIR`` is a genzoo ``ddpm`` directory (``config.json`` with ``model_type``) or a diffusers
``DDPMPipeline``-style directory (``model_index.json``, ``scheduler/scheduler_config.json``,
``unet/config.json`` + ``unet/diffusion_pytorch_model.safetensors``) whose UNet2DModel uses
DownBlock2D / AttnDownBlock2D / UpBlock2D / AttnUpBlock2D blocks, or a lone ``UNet2DModel``
directory (sampled with ``DDPMScheduler()``'s defaults); ``genzoo.formats`` tells them apart.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import CheckpointError, ConfigError
from ..models.diffusion import DDPM, DDPMConfig
from ..nn.unet import unet_kwargs_from_diffusers
from ..samplers.denoise import canonical_sampler
from ..samplers.scheduler_config import from_diffusers
from ..serialization import load_state_into, load_tensors, read_json

OUTPUT_TYPES = ("pil", "tensor", "pt", "np")


@dataclasses.dataclass
class ImagePipelineOutput:
    images: Any
    provenance: dict | None = None  # sampler, steps, seed: genzoo.safety.provenance.created_manifest's parameters
    flagged: list[bool] | None = None  # the safety checker's flags (diffusers: nsfw_content_detected)


def load_diffusers_ddpm(path) -> DDPM:
    """A genzoo ``DDPM`` from a diffusers pipeline directory (UNet2DModel + a supported scheduler)."""
    path = Path(path)
    ucfg = read_json(path / "unet" / "config.json")
    scfg = read_json(path / "scheduler" / "scheduler_config.json")
    return _ddpm_from_diffusers(path, ucfg, scfg, path / "unet" / "diffusion_pytorch_model.safetensors")


def load_diffusers_unet(path) -> DDPM:
    """A genzoo ``DDPM`` from a lone diffusers ``UNet2DModel`` directory (``config.json`` +
    ``diffusion_pytorch_model.safetensors``), with ``DDPMScheduler()``'s defaults (1000 linear steps)."""
    path = Path(path)
    return _ddpm_from_diffusers(path, read_json(path / "config.json"), {"_class_name": "DDPMScheduler"},
                                path / "diffusion_pytorch_model.safetensors")


def schedule_fields(path, scfg: dict) -> dict:
    """``DDPMConfig`` fields (schedule, sampler defaults) of a diffusers ``scheduler_config.json``."""
    try:
        sampler, schedule, options = from_diffusers(scfg)
    except ConfigError as e:
        raise CheckpointError(f"{path}: {e}") from None
    return dict(num_train_timesteps=schedule["num_train_timesteps"], beta_schedule=schedule["beta_schedule"],
                beta_start=schedule["beta_start"], beta_end=schedule["beta_end"], prediction=schedule["prediction_type"],
                sampler=sampler, sample_steps=50 if sampler != "ddpm" else schedule["num_train_timesteps"],
                timestep_spacing=options.get("timestep_spacing"), steps_offset=options.get("steps_offset", 0),
                use_karras_sigmas=options.get("use_karras_sigmas"), clip_sample=options.get("clip_sample", False))


def sample_size(cfg: dict, default: int = 32) -> int:
    size = cfg.get("sample_size") or default
    return size if isinstance(size, int) else size[0]


def _ddpm_from_diffusers(path: Path, ucfg: dict, scfg: dict, weights: Path) -> DDPM:
    try:
        kw = unet_kwargs_from_diffusers(ucfg)
    except ConfigError as e:
        raise CheckpointError(f"{path}: {e}") from None
    if kw["in_channels"] != kw["out_channels"]:
        raise CheckpointError(f"{path}: UNet2DModel with {kw['in_channels']} input and {kw['out_channels']} output channels "
                              "(learned variance?) is not supported")
    size = sample_size(ucfg)
    config = DDPMConfig(
        shape=(kw["in_channels"], size, size), num_classes=kw["num_class_embeds"], null_class=False,
        **schedule_fields(path, scfg),
        block_out_channels=kw["block_out_channels"], layers_per_block=kw["layers_per_block"],
        attention_levels=kw["attention_levels"], norm_num_groups=kw["norm_num_groups"],
        attention_head_dim=kw["attention_head_dim"], norm_eps=kw["norm_eps"], mid_attention=kw["mid_attention"],
        flip_sin_to_cos=kw["flip_sin_to_cos"], freq_shift=kw["freq_shift"], dropout=kw["dropout"])
    model = DDPM(config)
    load_state_into(model.net, load_tensors(weights), weights)
    return model.eval()


class DiffusionPipeline:
    """A ``ddpm`` model plus its default sampler, called like diffusers' ``DDPMPipeline``.

    ``safety_checker`` (e.g. ``genzoo.safety.image_checker.ClassifierSafetyChecker``), as in diffusers'
    StableDiffusionPipeline: flagged images come back black and ``output.flagged`` lists the flags."""

    def __init__(self, model: DDPM, safety_checker=None):
        if not isinstance(model, DDPM):
            raise ConfigError(f"DiffusionPipeline needs a ddpm model, got {type(model).__name__}")
        self.model = model.eval()
        self.safety_checker = safety_checker

    @classmethod
    def from_pretrained(cls, path, device: str | torch.device = "cpu", safety_checker=None) -> "DiffusionPipeline":
        from ..formats import load_any  # genzoo ddpm, diffusers pipeline or lone UNet2DModel directories

        return cls(load_any(path, device=device), safety_checker=safety_checker)

    def save_pretrained(self, path) -> None:
        self.model.save_pretrained(path)

    @property
    def sampler(self) -> str:
        return self.model.config.sampler

    def __call__(self, batch_size: int = 1, num_inference_steps: int | None = None, guidance_scale: float | None = None,
                 class_labels=None, generator: torch.Generator | None = None, output_type: str = "pil",
                 sampler: str | None = None, eta: float | None = None, height: int | None = None,
                 width: int | None = None, return_dict: bool = True):
        if output_type not in OUTPUT_TYPES:
            raise ConfigError(f"output_type {output_type!r} is not one of {', '.join(OUTPUT_TYPES)}")
        shape = tuple(self.model.config.shape)
        if (height or shape[-2]) != shape[-2] or (width or shape[-1]) != shape[-1]:
            raise ConfigError(f"this model generates {shape[-2]}x{shape[-1]} images, not {height or shape[-2]}x{width or shape[-1]}; "
                              "omit height/width or train a model at that size")
        if sampler is not None:
            canonical_sampler(sampler)
        x = self.model.sample(batch_size, generator=generator, steps=num_inference_steps, sampler=sampler,
                              guidance_scale=guidance_scale, class_labels=class_labels, eta=eta)
        from ..safety.image_checker import apply_safety_checker

        x, flagged = apply_safety_checker(self.safety_checker if self.model.is_image else None, x)
        images = to_output(x, output_type) if self.model.is_image else x
        from ..safety.provenance import generation_params  # what a C2PA manifest records (save_signed)

        record = generation_params(self.model, sampler, num_inference_steps, generator, guidance_scale, class_labels)
        if not return_dict:
            return (images,) if flagged is None else (images, flagged)
        return ImagePipelineOutput(images, record, flagged)


def to_output(x: Tensor, output_type: str):
    """Images in [-1, 1] (N, C, H, W) -> tensors in [0, 1], numpy NHWC or PIL images."""
    x = ((x.detach().float().cpu() + 1) / 2).clamp(0, 1)
    if output_type in ("tensor", "pt"):
        return x
    arr = x.permute(0, 2, 3, 1).numpy()
    if output_type == "np":
        return arr
    from PIL import Image

    u8 = (arr * 255).round().astype("uint8")
    return [Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a) for a in u8]


def to_model_space(image, shape: tuple[int, ...]) -> Tensor:
    """PIL image(s) (0..255) or a tensor already in [-1, 1] -> (N, C, H, W) float in [-1, 1]."""
    if isinstance(image, Tensor):
        x = image.float()
    else:
        import numpy as np

        images = image if isinstance(image, (list, tuple)) else [image]
        arr = np.stack([np.asarray(im, dtype=np.float32) / 255.0 for im in images])
        x = torch.from_numpy(arr if arr.ndim == 4 else arr[..., None]).permute(0, 3, 1, 2) * 2 - 1
    if x.ndim == len(shape):
        x = x[None]
    if tuple(x.shape[1:]) != tuple(shape):
        raise ConfigError(f"image of shape {tuple(x.shape[1:])} does not match the model's {tuple(shape)}")
    return x


class _EditingPipeline(DiffusionPipeline):
    def _setup(self, n: int, num_inference_steps, guidance_scale, class_labels, sampler):
        m = self.model
        scale = m.config.guidance_scale if guidance_scale is None else float(guidance_scale)
        labels = m.sample_labels(n, class_labels, scale, next(m.parameters()).device)
        return m.guided_fn(labels, scale), m.make_sampler(sampler, num_inference_steps)

    def _output(self, x: Tensor, output_type: str, return_dict: bool):
        from ..safety.image_checker import apply_safety_checker

        x, flagged = apply_safety_checker(self.safety_checker, x.clamp(-1, 1))
        images = to_output(x, output_type)
        if not return_dict:
            return (images,) if flagged is None else (images, flagged)
        return ImagePipelineOutput(images, flagged)


class Img2ImgPipeline(_EditingPipeline):
    """SDEdit: ``pipe(image=, strength=0.6, ...)``; ``image`` is PIL or a tensor in [-1, 1]."""

    @torch.no_grad()
    def __call__(self, image, strength: float = 0.6, num_inference_steps: int | None = None,
                 guidance_scale: float | None = None, class_labels=None, generator: torch.Generator | None = None,
                 output_type: str = "pil", sampler: str | None = None, return_dict: bool = True):
        from ..samplers.editing import sdedit

        x = to_model_space(image, self.model.config.shape).to(next(self.model.parameters()).device)
        fn, smp = self._setup(len(x), num_inference_steps, guidance_scale, class_labels, sampler)
        return self._output(sdedit(fn, smp, x, strength, generator=generator), output_type, return_dict)


class InpaintPipeline(_EditingPipeline):
    """``pipe(image=, mask_image=, ...)``: repaints where ``mask_image`` is 1 (white), keeps the rest.

    ``jump_length`` / ``jump_n_sample`` (RePaint's j / r, diffusers ``RePaintPipeline`` names) turn on
    resampling; it runs on the DDPM ancestral sampler, chosen when ``sampler`` is not given.
    """

    @torch.no_grad()
    def __call__(self, image, mask_image, num_inference_steps: int | None = None, guidance_scale: float | None = None,
                 class_labels=None, generator: torch.Generator | None = None, output_type: str = "pil",
                 sampler: str | None = None, return_dict: bool = True, jump_length: int = 1, jump_n_sample: int = 1):
        from ..samplers.editing import inpaint

        x = to_model_space(image, self.model.config.shape).to(next(self.model.parameters()).device)
        if isinstance(mask_image, Tensor):
            mask = mask_image.float()
        else:
            mask = (to_model_space(mask_image, (1, *x.shape[-2:])) + 1) / 2
        mask = (mask > 0.5).to(x.dtype)
        while mask.ndim < 4:  # (H, W) / (C, H, W) -> broadcastable (N, C, H, W)
            mask = mask[None]
        if sampler is None and jump_n_sample != 1:
            sampler = "ddpm"
        fn, smp = self._setup(len(x), num_inference_steps, guidance_scale, class_labels, sampler)
        out = inpaint(fn, smp, x, 1 - mask, generator=generator, jump_length=jump_length, jump_n_sample=jump_n_sample)
        return self._output(out, output_type, return_dict)
