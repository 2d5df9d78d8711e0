"""Helpers of the web UI tests: tiny runs (genzoo.serve.tiny) and a session's CSRF header."""
from __future__ import annotations

from genzoo.serve.tiny import tiny_runs


def make_runs(root):
    """RUNS_DIR of tiny untrained models: gpt-a, gpt-b, more/gpt-c (text), mix (2-D), audio/wavenet and
    audio/diffusion (audio)."""
    return tiny_runs(root)


def session(client) -> dict:
    """Headers of a browser session (the cookie stays in the client)."""
    token = client.get("/api/session").json()["csrf"]
    return {"X-CSRF-Token": token}
