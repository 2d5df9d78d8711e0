"""The leaderboard: every registered family on every built-in dataset it supports (``genzoo bench``)."""
from .runner import run_leaderboard

__all__ = ["run_leaderboard"]
