"""``sample_table``: rows of a table from a model trained on a tabular dataset, optionally conditioned.

A model trained on a ``data/tables.py`` set carries its ``TableTransform`` (``table_transform.json``
in the saved directory); samples are decoded to a DataFrame with the original columns and dtypes.

Conditioning on ``COLUMN=VALUE`` (categorical columns):
- *native* for a family trained with the table's labels (its conditioning column, e.g. the target):
  ``ddpm`` (class-conditional, ``class_labels``) and ``gan`` (conditional G and projection D, ``y``);
  unconditioned rows of such a model draw the label from the training frequencies, so the column's
  marginal matches the data (not the families' default uniform labels); the row's label column is
  set to the label it was drawn for (a row is (x ~ p(x | y), y));
- *rejection sampling* otherwise (``vae``, flows, ``gaussian-copula``, and other columns): draw
  batches and keep matching rows, up to ``max_draws`` batches.
"""
from __future__ import annotations

import inspect

import torch

from ..errors import ConfigError, DataError


def parse_conditions(items) -> dict[str, str]:
    """``["col=value", ...]`` -> ``{col: value}``; a malformed item is a one-line error."""
    out = {}
    for item in items or ():
        col, sep, value = str(item).partition("=")
        if not sep or not col.strip():
            raise ConfigError(f"--condition {item!r}: write COLUMN=VALUE")
        out[col.strip()] = value.strip()
    return out


def table_transform_of(model):
    tf = getattr(model, "table_transform", None)
    if tf is None:
        raise ConfigError(f"this {getattr(model, 'model_type', 'model')} was not trained on a table "
                          "(e.g. --data wine or table:FILE.csv), so it cannot write rows")
    return tf


def native_label_arg(model) -> str | None:
    """The ``sample`` keyword that takes class labels, for a model trained on labels; else None."""
    if not getattr(getattr(model, "config", None), "num_classes", None):
        return None
    params = inspect.signature(model.sample).parameters
    return next((k for k in ("class_labels", "y") if k in params), None)


def sample_table(model, n: int, *, generator: torch.Generator | None = None, condition: dict | None = None,
                 max_draws: int = 50, **kw):
    """``n`` decoded rows (a DataFrame); ``condition``: ``{column: value}`` that every row must have."""
    import pandas as pd

    tf = table_transform_of(model)
    condition = dict(condition or {})
    wanted = {col: int(tf.codes(col, [value])[0]) for col, value in condition.items()}  # unseen value -> error
    arg = native_label_arg(model)
    native = arg is not None and tf.condition is not None
    freq = None
    if native:
        counts = torch.tensor(tf.column(tf.condition)["counts"], dtype=torch.float64)
        freq = counts / counts.sum()
    rest = {col: tf.column(col)["categories"][code] for col, code in wanted.items() if not (native and col == tf.condition)}
    rows, have = [], 0
    for _ in range(max_draws):
        batch = n if not rest else max(n, 256)
        extra = dict(kw)
        if native:
            if tf.condition in wanted:
                labels = torch.full((batch,), wanted[tf.condition], dtype=torch.long)
            else:
                labels = torch.multinomial(freq, batch, replacement=True, generator=generator)
            extra[arg] = labels
        with torch.no_grad():
            x = model.sample(batch, generator=generator, **extra).float()
        if native:  # the row's label column is the label it was drawn for: (x ~ p(x | y), y)
            start, width = tf.spans[tf.names.index(tf.condition)]
            x[:, start:start + width] = torch.nn.functional.one_hot(extra[arg], width).to(x)
        frame = tf.inverse(x)
        for col, value in rest.items():
            frame = frame[frame[col].astype(str) == str(value)]
        rows.append(frame)
        have += len(frame)
        if have >= n:
            return pd.concat(rows, ignore_index=True).iloc[:n]
    shown = ", ".join(f"{c}={v}" for c, v in condition.items())
    raise DataError(f"only {have} of {n} rows with {shown} in {max_draws} draws; the model rarely generates "
                    "these values (ask for fewer rows or condition on the model's label column)")
