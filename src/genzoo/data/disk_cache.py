"""Derived data computed once and kept in ``~/.cache/genzoo/`` (``$XDG_CACHE_HOME/genzoo``): a JSON value
per name, written atomically (a reader never sees half a file); a read-only or full home only means
computing again next time."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "genzoo"


def cached_json(name: str, compute: Callable[[], Any]) -> Any:
    """The JSON value stored under ``name``, or ``compute()`` stored there first."""
    path = cache_dir() / name
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    value = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(value))
        os.replace(tmp, path)
    except OSError:
        pass
    return value
