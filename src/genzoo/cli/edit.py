"""``genzoo edit``: inpainting, SDEdit image-to-image and DDIM-latent interpolation with a saved ``ddpm``.

Register on the typer app (cli/main.py) with ``app.command()(edit)``. Examples::

    genzoo edit runs/ddpm-digits --mode inpaint --data digits --index 0,1,2 --mask center --out inpaint.png
    genzoo edit runs/ddpm-digits --mode inpaint --data digits --mask left --steps 100 --jump-length 5 --jump-n-sample 5
    genzoo edit runs/ddpm-digits --mode img2img --image sketch.png --strength 0.6 --steps 50
    genzoo edit runs/ddpm-digits --mode interpolate --data digits --index 0,7 --frames 8

The PNG written is a grid: one row per input (the input, then the result; for ``interpolate`` the
frames between each consecutive pair of inputs).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from ..errors import ConfigError
from .provenance import C2PA_CERT_HELP, C2PA_KEY_HELP

if TYPE_CHECKING:
    import torch

MODES = ("inpaint", "img2img", "interpolate")


def load_inputs(shape: tuple[int, ...], image: Optional[list[Path]], data: Optional[str], index: str) -> torch.Tensor:
    """(N, C, H, W) in [-1, 1] from PNG files or dataset examples (``--data NAME --index i,j``)."""
    from ..pipelines.diffusion import to_model_space

    if image:
        from PIL import Image

        mode = "L" if shape[0] == 1 else "RGB"
        images = []
        for p in image:
            if not Path(p).is_file():
                raise ConfigError(f"--image {p}: no such file")
            images.append(Image.open(p).convert(mode).resize((shape[-1], shape[-2])))
        return to_model_space(images, shape)
    if data:
        import genzoo as gz

        ds = gz.load_dataset(data, split="test")
        try:
            idx = [int(i) for i in index.split(",") if i.strip()]
        except ValueError:
            raise ConfigError(f"--index {index!r}: give comma-separated example numbers, e.g. 0,1,2") from None
        if not idx or max(idx) >= len(ds) or min(idx) < 0:
            raise ConfigError(f"--index {index!r}: {data} test split has examples 0..{len(ds) - 1}")
        return to_model_space(ds.x[idx], shape)
    raise ConfigError("give the images to edit: --image FILE.png (repeatable) or --data NAME --index i,j")


def load_mask(spec: str, height: int, width: int) -> torch.Tensor:
    from ..editing import region_mask

    if Path(spec).is_file():
        import torch
        from PIL import Image

        arr = torch.tensor(list(Image.open(spec).convert("L").resize((width, height)).getdata()), dtype=torch.float32)
        return (arr.reshape(height, width) > 127).float()
    return region_mask(spec, height, width)


def edit(
    run: Path = typer.Argument(..., help="A saved ddpm directory (genzoo or diffusers layout)."),
    mode: str = typer.Option("inpaint", help="inpaint | img2img | interpolate"),
    image: Optional[list[Path]] = typer.Option(None, "--image", help="Input PNG (repeatable)."),
    data: Optional[str] = typer.Option(None, "--data", help="Take inputs from this dataset's test split."),
    index: str = typer.Option("0,1,2,3", help="Dataset example numbers, comma-separated."),
    mask: str = typer.Option("center", help="inpaint: PNG (white = repaint), center|left|right|top|bottom, or top,left,bottom,right."),
    strength: float = typer.Option(0.6, help="img2img: how far to noise the input, in (0, 1]."),
    steps: Optional[int] = typer.Option(None, help="Sampler steps (default: the model's)."),
    sampler: Optional[str] = typer.Option(None, help="Sampler for inpaint/img2img (ddpm, ddim, dpm++2m, heun)."),
    jump_length: int = typer.Option(1, "--jump-length", help="inpaint: RePaint jump length j (steps re-noised per jump)."),
    jump_n_sample: int = typer.Option(1, "--jump-n-sample", help="inpaint: RePaint resamplings r (1 = none; >1 uses the ddpm sampler)."),
    frames: int = typer.Option(8, help="interpolate: images per pair, endpoints included."),
    guidance_scale: Optional[float] = typer.Option(None, "--guidance-scale"),
    class_label: Optional[int] = typer.Option(None, "--class-label"),
    seed: int = typer.Option(0),
    out: Optional[Path] = typer.Option(None, help="Output PNG (default RUN/edit-MODE.png)."),
    c2pa_cert: Optional[Path] = typer.Option(None, "--c2pa-cert", help=C2PA_CERT_HELP),
    c2pa_key: Optional[Path] = typer.Option(None, "--c2pa-key", help=C2PA_KEY_HELP),
):
    """Edit images with a diffusion model: inpaint, SDEdit img2img, or interpolate in the DDIM latent."""
    import torch

    from ..pipelines.diffusion import DiffusionPipeline, Img2ImgPipeline, InpaintPipeline
    from ..plotting import save_samples
    from ..safety.provenance import credentials_for_output, generation_params, sign_edit

    if mode not in MODES:
        raise ConfigError(f"--mode {mode!r}: use one of {', '.join(MODES)}")
    creds = credentials_for_output(c2pa_cert, c2pa_key, out)
    if mode != "inpaint" and (jump_length, jump_n_sample) != (1, 1):
        raise ConfigError("--jump-length / --jump-n-sample (RePaint resampling) apply to --mode inpaint only")
    base = DiffusionPipeline.from_pretrained(run)
    model = base.model
    if not model.is_image:
        raise ConfigError(f"{run} is a {tuple(model.config.shape)} model; genzoo edit needs an image model")
    x = load_inputs(tuple(model.config.shape), image, data, index)
    gen = torch.Generator().manual_seed(seed)
    common = dict(num_inference_steps=steps, guidance_scale=guidance_scale, class_labels=class_label,
                  generator=gen, output_type="tensor", sampler=sampler)
    if mode == "interpolate":
        from ..editing import ddim_interpolate

        if len(x) < 2:
            raise ConfigError("--mode interpolate needs at least two inputs")
        result = ddim_interpolate(model, x[:-1], x[1:], frames=frames, steps=steps or 50)
        grid, nrow = result, frames
    else:
        if mode == "inpaint":
            m = load_mask(mask, *model.config.shape[-2:])
            result = InpaintPipeline(model)(image=x, mask_image=m, jump_length=jump_length, jump_n_sample=jump_n_sample,
                                            **common).images * 2 - 1
            shown = x * (1 - m) + m * -1.0          # the input with the repainted region blanked
        else:
            result = Img2ImgPipeline(model)(image=x, strength=strength, **common).images * 2 - 1
            shown = x
        grid, nrow = torch.stack([shown, result], 1).flatten(0, 1), 2
    out = Path(out) if out is not None else Path(run) / f"edit-{mode}.png"
    save_samples(grid, out, nrow=nrow)
    sign_edit(out, creds, run, model, mode, image or x, source_title=f"{data} test examples {index}", seed=seed,
              **({"strength": strength} if mode == "img2img" else {}),
              **(generation_params(model, "ddim", steps or 50) if mode == "interpolate" else generation_params(model, sampler, steps)))
    typer.echo(f"wrote {out}")
