"""Text-to-image pipelines over a ``latent-diffusion`` model, called like diffusers' Stable Diffusion ones.

    pipe = gz.pipelines.pipeline("text-to-image", model=DIR)
    images = pipe("a small red circle at the top left", negative_prompt=None, num_images_per_prompt=4,
                  guidance_scale=3.0, num_inference_steps=25, generator=torch.Generator().manual_seed(0)).images

- ``"text-to-image"``: ``TextToImagePipeline``; an empty prompt samples the unconditional model.
- ``"image-to-image"``: SDEdit with a prompt (Meng et al. 2022): the image's latent ``s E(x)`` is noised to
  ``strength`` and denoised under the prompt's guidance.
- ``"inpainting"``: repaints where ``mask_image`` is 1 (white): the known latents are re-imposed after every
  step (``samplers.editing.inpaint``) with the mask max-pooled to the latent grid (a latent cell is repainted
  when any of its pixels is), then the decoded image is pasted over the known pixels, which stay exact.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError
from ..utils import model_device
from .diffusion import OUTPUT_TYPES, ImagePipelineOutput, to_model_space, to_output


def _prompts(prompt, negative_prompt, per_prompt: int) -> tuple[list[str], list[str] | None]:
    prompts = [prompt] if prompt is None or isinstance(prompt, str) else list(prompt)
    prompts = ["" if p is None else str(p) for p in prompts]
    if not prompts:
        raise ConfigError("no prompt given; pass a string, a list of strings, or \"\" for unconditional images")
    if per_prompt < 1:
        raise ConfigError(f"num_images_per_prompt={per_prompt} must be >= 1")
    negs = None
    if negative_prompt is not None:
        negs = [negative_prompt] * len(prompts) if isinstance(negative_prompt, str) else list(negative_prompt)
        if len(negs) != len(prompts):
            raise ConfigError(f"{len(negs)} negative prompts for {len(prompts)} prompts; give one or one per prompt")
        negs = [n for n in negs for _ in range(per_prompt)]
    return [p for p in prompts for _ in range(per_prompt)], negs


class TextToImagePipeline:
    """A ``latent-diffusion`` model plus its default sampler (``safety_checker`` as in ``DiffusionPipeline``)."""

    def __init__(self, model, safety_checker=None):
        from ..models.latent_diffusion import LatentDiffusion

        if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
            from ..formats import load_any

            model = load_any(model)
        if not isinstance(model, LatentDiffusion):
            raise ConfigError(f"text-to-image needs a latent-diffusion model, got {getattr(model, 'model_type', type(model).__name__)!r}")
        self.model = model.eval()
        self.safety_checker = safety_checker

    @classmethod
    def from_pretrained(cls, path, device: str | torch.device = "cpu", safety_checker=None):
        from ..formats import load_any

        return cls(load_any(path, device=device), safety_checker=safety_checker)

    def save_pretrained(self, path) -> None:
        self.model.save_pretrained(path)

    def _finish(self, x: Tensor, output_type: str, return_dict: bool, record: dict):
        from ..safety.image_checker import apply_safety_checker

        x, flagged = apply_safety_checker(self.safety_checker, x)
        images = to_output(x, output_type)
        if not return_dict:
            return (images,) if flagged is None else (images, flagged)
        return ImagePipelineOutput(images, record, flagged)

    @staticmethod
    def _check_output(output_type: str) -> None:
        if output_type not in OUTPUT_TYPES:
            raise ConfigError(f"output_type {output_type!r} is not one of {', '.join(OUTPUT_TYPES)}")

    def _record(self, prompts, negs, sampler, steps, generator, guidance_scale) -> dict:
        from ..safety.provenance import generation_params

        scale = self.model.config.guidance_scale if guidance_scale is None else guidance_scale
        return {**generation_params(self.model, sampler, steps, generator, scale), "prompt": prompts,
                **({"negative_prompt": negs} if negs else {})}

    @torch.no_grad()
    def __call__(self, prompt="", negative_prompt=None, num_images_per_prompt: int = 1,
                 num_inference_steps: int | None = None, guidance_scale: float | None = None,
                 generator: torch.Generator | None = None, output_type: str = "pil", sampler: str | None = None,
                 eta: float | None = None, return_dict: bool = True):
        self._check_output(output_type)
        prompts, negs = _prompts(prompt, negative_prompt, num_images_per_prompt)
        x = self.model.sample(len(prompts), prompt=prompts, negative_prompt=negs, guidance_scale=guidance_scale,
                              steps=num_inference_steps, sampler=sampler, eta=eta, generator=generator)
        return self._finish(x, output_type, return_dict,
                            self._record(prompts, negs, sampler, num_inference_steps, generator, guidance_scale))


class TextImg2ImgPipeline(TextToImagePipeline):
    """SDEdit under a prompt: ``pipe(prompt, image=, strength=0.6, ...)``; ``image`` is PIL or a tensor in [-1, 1]."""

    @torch.no_grad()
    def __call__(self, prompt="", image=None, strength: float = 0.6, negative_prompt=None,
                 num_inference_steps: int | None = None, guidance_scale: float | None = None,
                 generator: torch.Generator | None = None, output_type: str = "pil", sampler: str | None = None,
                 return_dict: bool = True):
        from ..samplers.editing import sdedit

        self._check_output(output_type)
        if image is None:
            raise ConfigError("image-to-image needs image= (PIL or a tensor in [-1, 1])")
        m = self.model
        x = to_model_space(image, m.config.shape).to(model_device(m))
        prompts, negs = _prompts(prompt, negative_prompt, 1)
        fn = m.prompt_fn(len(x), prompts, negs, guidance_scale)
        z = sdedit(fn, m.make_sampler(sampler, num_inference_steps), m.latents(x, sample=False), strength, generator=generator)
        return self._finish(m.decode_latents(z), output_type, return_dict,
                            self._record(prompts, negs, sampler, num_inference_steps, generator, guidance_scale))


class TextInpaintPipeline(TextToImagePipeline):
    """``pipe(prompt, image=, mask_image=, ...)``: repaints where the mask is 1 (white) under the prompt."""

    @torch.no_grad()
    def __call__(self, prompt="", image=None, mask_image=None, negative_prompt=None,
                 num_inference_steps: int | None = None, guidance_scale: float | None = None,
                 generator: torch.Generator | None = None, output_type: str = "pil", sampler: str | None = None,
                 return_dict: bool = True):
        from ..samplers.editing import inpaint

        self._check_output(output_type)
        if image is None or mask_image is None:
            raise ConfigError("inpainting needs image= and mask_image= (1 / white = repaint)")
        m = self.model
        x = to_model_space(image, m.config.shape).to(model_device(m))
        mask = mask_image.float() if isinstance(mask_image, Tensor) else (to_model_space(mask_image, (1, *x.shape[-2:])) + 1) / 2
        while mask.ndim < 4:
            mask = mask[None]
        mask = (mask[:, :1] > 0.5).to(x.dtype)
        ds = x.shape[-1] // m.latent_shape[-1]
        latent_mask = F.max_pool2d(mask, ds) if ds > 1 else mask
        prompts, negs = _prompts(prompt, negative_prompt, 1)
        fn = m.prompt_fn(len(x), prompts, negs, guidance_scale)
        z = inpaint(fn, m.make_sampler(sampler, num_inference_steps), m.latents(x, sample=False), 1 - latent_mask,
                    generator=generator)
        out = mask * m.decode_latents(z) + (1 - mask) * x
        return self._finish(out, output_type, return_dict,
                            self._record(prompts, negs, sampler, num_inference_steps, generator, guidance_scale))
