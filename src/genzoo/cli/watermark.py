"""``genzoo watermark detect``: is a text (KGW z-test) or an image (Tree-Ring) watermarked with a key? (``genzoo.safety``)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..errors import ConfigError, DataError

watermark_app = typer.Typer(help="Watermarks: genzoo watermark detect RUN --key K --text-file F (KGW text) "
                            "or --image FILE|DIR (Tree-Ring images of a diffusion model).",
                            no_args_is_help=True)

KEY_HELP = "The secret watermark key (an integer; transformers' hashing_key)."
GAMMA_HELP = "Green-list fraction gamma in (0, 1)."
SEEDING_HELP = "lefthash (seed from the previous token) or selfhash (the token in its own seed)."


def watermark_config(key: int, gamma: float = 0.25, delta: float = 2.0, seeding: str = "lefthash",
                     z_threshold: float = 4.0):
    from ..safety import WatermarkConfig

    return WatermarkConfig(key=key, gamma=gamma, delta=delta, seeding=seeding, z_threshold=z_threshold)


@watermark_app.command("detect")
def detect_cmd(
    run: Path = typer.Argument(..., help="The model that generated the input: its GPT (text) or its "
                                                  "image diffusion model (--image)."),
    key: int = typer.Option(..., "--key", help=KEY_HELP),
    text_file: Optional[Path] = typer.Option(None, "--text-file", help="The text to score (UTF-8)."),
    image: Optional[Path] = typer.Option(None, "--image", help="Image file, directory of images or samples "
                                         ".safetensors to score for the Tree-Ring watermark of a diffusion RUN."),
    radius: int = typer.Option(4, "--radius", help="Tree-Ring ring radius R used at sampling (--watermark-radius)."),
    inner: int = typer.Option(0, "--inner", help="Tree-Ring inner radius used at sampling (--watermark-inner)."),
    pattern: str = typer.Option("rand", "--pattern", help="Tree-Ring key pattern used at sampling (--watermark-pattern)."),
    steps: int = typer.Option(50, "--steps", help="DDIM inversion steps (Tree-Ring)."),
    alpha: float = typer.Option(0.01, "--alpha", help="Tree-Ring: call an image watermarked when p < alpha."),
    gamma: float = typer.Option(0.25, "--gamma", help=GAMMA_HELP),
    seeding: str = typer.Option("lefthash", "--seeding", help=SEEDING_HELP),
    z_threshold: float = typer.Option(4.0, "--z-threshold", help="Call the text watermarked when z >= this."),
    as_json: bool = typer.Option(False, "--json", help='Print {"z", "p_value", "watermarked", ...} as JSON '
                                 '(images: one {"image", "distance", "p_value", "watermarked"} line per image).'),
):
    """Score a text for the KGW watermark of KEY: z = (|s|_G - gamma T) / sqrt(T gamma (1 - gamma)), p = 1 - Phi(z);
    or images for the Tree-Ring watermark: DDIM-invert, L1 distance and chi-square p-value in the key's rings."""
    if (text_file is None) == (image is None):
        raise ConfigError("give exactly one of --text-file (text watermark) or --image (Tree-Ring image watermark)")
    if image is not None:
        from ..safety.tree_ring import TreeRingKey

        return detect_images(run, TreeRingKey(key, radius, inner=inner, pattern=pattern), image, steps, alpha, as_json)
    from ..pipelines.text_generation import _load_model
    from ..safety import detect

    cfg = watermark_config(key, gamma, seeding=seeding, z_threshold=z_threshold)
    if not text_file.is_file():
        raise DataError(f"--text-file {text_file} does not exist")
    try:
        text = text_file.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"--text-file {text_file} is not UTF-8 text ({e.reason})") from None
    model = _load_model(str(run), "cpu")
    res = detect(text, cfg, model.config.vocab_size, tokenizer=getattr(model, "tokenizer", None))
    if as_json:
        typer.echo(json.dumps(res))
    else:
        verdict = "watermarked" if res["watermarked"] else "not watermarked"
        typer.echo(f"{verdict}: z = {res['z']:.3f}, p = {res['p_value']:.3g} "
                   f"({res['green']} green of {res['scored']} scored tokens)")


def detect_images(run: Path, tr_key, image: Path, steps: int, alpha: float, as_json: bool) -> None:
    """Tree-Ring detection of every image under ``image`` with the diffusion model in ``run``."""
    import genzoo as gz
    from ..safety.image_files import read_images
    from ..safety.tree_ring import check_model, detect

    if steps < 1:
        raise ConfigError(f"--steps must be a positive number of DDIM inversion steps, got {steps}")
    model = gz.load(run)
    check_model(model)
    tr_key.check_shape(model.config.shape)
    names, images = read_images(image, model.config.shape)
    for name, res in zip(names, detect(model.eval(), images, tr_key, steps=steps, alpha=alpha)):
        if as_json:
            typer.echo(json.dumps({"image": name, **res}))
        else:
            verdict = "watermarked" if res["watermarked"] else "not watermarked"
            typer.echo(f"{name}: {verdict}: distance = {res['distance']:.4f}, p = {res['p_value']:.3g}")
