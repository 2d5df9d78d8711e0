"""``genzoo watermark detect``: is a text watermarked with a key? (KGW z-test, ``genzoo.safety``)."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from ..errors import DataError

watermark_app = typer.Typer(help="Text watermarks (KGW): genzoo watermark detect RUN --key K --text-file F.",
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
    run: Path = typer.Argument(..., help="The model whose tokenizer and vocabulary the text was generated with."),
    key: int = typer.Option(..., "--key", help=KEY_HELP),
    text_file: Path = typer.Option(..., "--text-file", help="The text to score (UTF-8)."),
    gamma: float = typer.Option(0.25, "--gamma", help=GAMMA_HELP),
    seeding: str = typer.Option("lefthash", "--seeding", help=SEEDING_HELP),
    z_threshold: float = typer.Option(4.0, "--z-threshold", help="Call the text watermarked when z >= this."),
    as_json: bool = typer.Option(False, "--json", help='Print {"z", "p_value", "watermarked", ...} as JSON.'),
):
    """Score a text for the KGW watermark of KEY: z = (|s|_G - gamma T) / sqrt(T gamma (1 - gamma)), p = 1 - Phi(z)."""
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
