"""Errors with one-line messages that say what is wrong and how to fix it."""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class GenzooError(Exception):
    """Base class: the CLI prints ``error: <message>`` and exits with code 2."""


class NotSupported(GenzooError):
    """The model family does not support this operation (e.g. ``log_prob`` of a GAN)."""


class ConfigError(GenzooError, ValueError):
    """A bad option, flag or configuration value."""


class DataError(GenzooError, ValueError):
    """Bad input data: wrong shape, NaN values, unknown dataset."""


class CheckpointError(GenzooError):
    """A saved model or checkpoint is missing, corrupt or incompatible."""


class TrainingDiverged(GenzooError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Suffix suggesting the closest valid names, e.g. " (did you mean 'moons'?)"."""
    choices = sorted(set(choices))
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    if close:
        return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"
    return f" (valid names: {', '.join(choices)})"


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> ConfigError:
    """Error for an unknown registry name, with suggestions."""
    return ConfigError(f"unknown {kind} {name!r}{did_you_mean(name, choices)}")
