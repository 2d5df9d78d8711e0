"""``genzoo serve``: the web UI (playground, arena, leaderboard) over a runs directory; and
``genzoo eval --metrics pairwise --votes FILE`` (ratings from the arena's votes or any judgements file)."""
from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Optional

import typer

from ..errors import ConfigError


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    runs_dir: Path = typer.Argument(Path("runs"), help="Directory of saved runs (each offered by its name); "
                                     "votes go to RUNS_DIR/votes.sqlite."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(7860, "--port"),
    allow_remote: bool = typer.Option(False, "--allow-remote", help="Allow a --host beyond loopback; every POST "
                                      "then needs the voting token."),
    token: Optional[str] = typer.Option(None, "--token", help="The voting token for --allow-remote (default: "
                                        "$GENZOO_SERVE_TOKEN, else a random one printed at start)."),
):
    """Web UI: playground (stream text, sample images), arena (blind A/B votes), live leaderboard."""
    if not runs_dir.is_dir():
        raise ConfigError(f"{runs_dir} is not a directory of saved runs")
    if not 0 < port < 65536:
        raise ConfigError(f"--port must be in 1..65535, got {port}")
    vote_token = None
    if not _is_loopback(host):
        if not allow_remote:
            raise ConfigError(f"--host {host} listens beyond this machine; add --allow-remote (votes then need a token)")
        vote_token = token or os.environ.get("GENZOO_SERVE_TOKEN") or secrets.token_urlsafe(16)
        if len(vote_token) < 12:
            raise ConfigError("the voting token must have at least 12 characters")
        typer.echo(f"voting token: {vote_token}")
    elif token is not None:
        vote_token = token
    try:
        import uvicorn

        from ..serve.app import create_app
    except ImportError as e:
        raise ConfigError(f"genzoo serve needs FastAPI and uvicorn: pip install 'genzoo[serve]' ({e})") from None
    app = create_app(runs_dir, vote_token=vote_token)
    typer.echo(f"genzoo serve: http://{host}:{port}/ ({len(app.state.index.runs())} models from {runs_dir})")
    uvicorn.run(app, host=host, port=port, log_level="warning", limit_concurrency=256, timeout_keep_alive=5)


def votes_report(votes: Path, metrics: str, seed: int) -> dict:
    """``genzoo eval --metrics pairwise --votes FILE``: Bradley–Terry (bootstrap CI) and Elo per model."""
    from ..metrics.pairwise import rate

    if [m.strip() for m in metrics.split(",")] != ["pairwise"]:
        raise ConfigError(f"--votes rates pairwise judgements: use --metrics pairwise, not {metrics!r}")
    return {"pairwise": rate(votes, seed=seed)}
