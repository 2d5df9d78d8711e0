"""``genzoo card RUN``: print or refresh a run's Hugging Face model card (``genzoo.safety.model_card``)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def card(
    run: Path = typer.Argument(..., help="A saved run or adapter directory."),
    write: bool = typer.Option(False, "--write", help="Write RUN/README.md instead of printing the card."),
    license: Optional[str] = typer.Option(None, "--license", help="License id for the metadata (e.g. mit, "
                                          "apache-2.0); default: the card's current one, else 'other'."),
    force: bool = typer.Option(False, "--force", help="With --write: replace a README.md that genzoo did not write."),
):
    """Print RUN's model card (README.md, Hugging Face format) or refresh it with --write."""
    from ..safety import model_card

    if write:
        typer.echo(f"wrote {model_card.write(run, license, force=force)}")
    else:
        typer.echo(model_card.render(run, license), nl=False)
