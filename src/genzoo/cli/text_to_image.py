"""``genzoo generate RUN "a blue square at the bottom right" -n 8 --guidance 3 --out x.png``: the
text-to-image branch of ``generate`` for latent-diffusion runs (and diffusers UNet2DConditionModel directories)."""
from __future__ import annotations

import warnings
from pathlib import Path

import typer

from ..errors import ConfigError

T2I_FORMATS = ("diffusers-latent", "diffusers-cond-unet")


def is_text_to_image(run: Path) -> bool:
    """Whether ``run`` holds a text-to-image model (read from its config files, without loading it)."""
    from ..formats import detect_format
    from ..serialization import CONFIG_NAME, read_json

    run = Path(run)
    if not run.is_dir():
        return False
    fmt = detect_format(run)
    if fmt == "genzoo":
        return read_json(run / CONFIG_NAME).get("model_type") == "latent-diffusion"
    return fmt in T2I_FORMATS


def generate_images(run: Path, prompt: str, *, n: int, guidance: float | None, negative_prompt: str | None,
                    steps: int | None, sampler: str | None, seed: int, out: Path | None) -> Path:
    """Sample ``n`` images of ``prompt`` and write them as one PNG grid; notes and warnings go to stderr."""
    import torch

    from ..models.latent_diffusion import check_guidance
    from ..pipelines.text_to_image import TextToImagePipeline
    from ..plotting import save_samples

    if n <= 0:
        raise ConfigError(f"-n must be a positive integer, got {n}")
    if guidance is not None:
        check_guidance(guidance)  # before the model loads
    out = Path(out) if out is not None else Path(run) / "generated.png"
    if out.suffix.lower() != ".png":
        raise ConfigError(f"--out {out}: text-to-image writes a PNG grid; give a .png path")
    pipe = TextToImagePipeline.from_pretrained(run)
    if not prompt.strip():
        typer.echo("note: empty prompt: sampling the unconditional model (guidance has no effect)", err=True)
    with warnings.catch_warnings(record=True) as caught:  # e.g. a prompt truncated to the encoder's limit
        warnings.simplefilter("always")
        images = pipe(prompt, negative_prompt=negative_prompt, num_images_per_prompt=n, guidance_scale=guidance,
                      num_inference_steps=steps, sampler=sampler, generator=torch.Generator().manual_seed(seed),
                      output_type="pt").images
    for w in caught:
        if str(w.message).startswith("genzoo: "):
            typer.echo(f"warning: {str(w.message).removeprefix('genzoo: ')}", err=True)
    path = save_samples(images * 2 - 1, out, kind="image")
    scale = pipe.model.config.guidance_scale if guidance is None else guidance
    typer.echo(f"wrote {path} ({n} images of {prompt!r}, guidance {scale:g})")
    return path
