"""genzoo.pipelines: ``pipeline(task, model=...)`` in the style of transformers / diffusers."""
from __future__ import annotations

from typing import Any

from ..errors import did_you_mean, ConfigError

TASKS = ("text-generation", "text2text-generation", "summarization", "text-to-image", "image-to-image", "inpainting")
#: image tasks of a latent-diffusion model (pipelines/text_to_image.py)
IMAGE_TASKS = {"text-to-image": "TextToImagePipeline", "image-to-image": "TextImg2ImgPipeline",
               "inpainting": "TextInpaintPipeline"}


def pipeline(task: str, model=None, **kw: Any):
    """``pipeline(TASK, model=DIR_OR_MODEL, tokenizer=None, device="cpu")``; TASK is ``"text-generation"``
    (GPT), ``"text2text-generation"`` or ``"summarization"`` (T5), ``"text-to-image"``, ``"image-to-image"``
    or ``"inpainting"`` (latent-diffusion)."""
    if task in IMAGE_TASKS:
        from . import text_to_image

        if model is None:
            raise ConfigError(f"pipeline({task!r}) needs model=DIR (a latent-diffusion run or diffusers directory)")
        return getattr(text_to_image, IMAGE_TASKS[task])(model, **kw)
    if task == "text-generation":
        from .text_generation import TextGenerationPipeline

        if model is None:
            raise ConfigError("pipeline('text-generation') needs model=DIR (a saved GPT or Hugging Face GPT-2 directory)")
        return TextGenerationPipeline(model, **kw)
    if task in ("text2text-generation", "summarization"):
        from .text2text import SummarizationPipeline, Text2TextGenerationPipeline

        if model is None:
            raise ConfigError(f"pipeline({task!r}) needs model=DIR (a saved t5 or transformers T5 directory)")
        return (SummarizationPipeline if task == "summarization" else Text2TextGenerationPipeline)(model, **kw)
    raise ConfigError(f"unknown pipeline task {task!r}{did_you_mean(task, TASKS)}")


__all__ = ["pipeline", "TASKS"]
from .diffusion import DiffusionPipeline, Img2ImgPipeline, InpaintPipeline  # noqa: E402,F401  (diffusion engineer)
