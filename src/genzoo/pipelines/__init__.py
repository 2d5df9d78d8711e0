"""genzoo.pipelines: ``pipeline(task, model=...)`` in the style of transformers / diffusers."""
from __future__ import annotations

from typing import Any

from ..errors import did_you_mean, ConfigError

TASKS = ("text-generation",)


def pipeline(task: str, model=None, **kw: Any):
    """``pipeline("text-generation", model=DIR_OR_MODEL, tokenizer=None, device="cpu")``."""
    if task == "text-generation":
        from .text_generation import TextGenerationPipeline

        if model is None:
            raise ConfigError("pipeline('text-generation') needs model=DIR (a saved GPT or Hugging Face GPT-2 directory)")
        return TextGenerationPipeline(model, **kw)
    raise ConfigError(f"unknown pipeline task {task!r}{did_you_mean(task, TASKS)}")


__all__ = ["pipeline", "TASKS"]
from .diffusion import DiffusionPipeline, Img2ImgPipeline, InpaintPipeline  # noqa: E402,F401  (diffusion engineer)
