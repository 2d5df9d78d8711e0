"""``genzoo sample`` / ``genzoo eval`` for models trained on tables: rows to and from CSV files."""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import ConfigError, DataError


def write_table_samples(model, run: Path, *, n: int, seed: int, out=None, condition=None, **kw) -> Path:
    """``n`` decoded rows (``--condition COL=VALUE`` honoured) written as CSV (default RUN/samples.csv)."""
    from ..pipelines.tabular import parse_conditions, sample_table

    out = Path(out) if out is not None else Path(run) / "samples.csv"
    if out.suffix != ".csv":
        raise ConfigError(f"--out {out}: rows of a table are written as CSV; use --out FILE.csv "
                          "(or FILE.safetensors without --condition for the encoded rows)")
    frame = sample_table(model, n, generator=torch.Generator().manual_seed(seed), condition=parse_conditions(condition), **kw)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    return out


def read_table_samples(path):
    """A CSV of synthetic rows (from ``genzoo sample`` or any tool) as a DataFrame."""
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the table is empty; give a CSV with a header row and data rows") from None
    if len(frame) == 0:
        raise DataError(f"{path}: the table has no rows")
    return frame
