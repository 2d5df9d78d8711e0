"""``evaluate(model, data, metrics)``: run registered metrics and return one flat dict.

A registered metric is a function ``fn(model, data, **kw) -> dict[str, float]``; several names can
share one function (``nll``/``bpd``/``perplexity``), which then runs once.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .registry import METRICS


def evaluate(model, data, metrics: Iterable[str] | str = ("nll",), **kw: Any) -> dict[str, float]:
    from .data import GenDataset, load_dataset

    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    if isinstance(data, str):
        data = load_dataset(data, split="test")
    if not isinstance(data, GenDataset):
        raise TypeError("evaluate() needs a genzoo dataset or a dataset name")
    fns = [METRICS.get(name) for name in metrics]  # validates every name before any work
    results: dict[str, float] = {}
    done: set[int] = set()
    for fn in fns:
        if id(fn) in done:
            continue
        done.add(id(fn))
        results.update(fn(model, data, **kw))
    return results
