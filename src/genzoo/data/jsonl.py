"""Reading JSONL files written by other tools: each problem is one line naming the file and line."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import DataError


def jsonl_records(path, missing: str) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` of each non-blank line of a UTF-8 JSONL file; ``missing`` is the error when
    there is no such file; bad JSON or bad bytes are a ``DataError`` naming the line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(missing)
    with open(path, encoding="utf-8", errors="strict") as f:
        try:
            for n, text in enumerate(f, 1):
                if not text.strip():
                    continue
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as e:
                    raise DataError(f"{path} line {n}: not valid JSON ({e.msg} at column {e.colno})") from None
                yield n, value
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: not UTF-8 (bad byte at offset {e.start})") from None
