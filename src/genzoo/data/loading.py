"""``load_dataset(name, split)``: look a dataset up in the registry, or parse ``text:PATH`` / ``folder:PATH``."""
from __future__ import annotations

import inspect
from typing import Any

from ..errors import ConfigError
from ..registry import DATASETS
from .base import GenDataset
from .classes import split_classes


def load_dataset(name: str, split: str = "train", **kw: Any) -> GenDataset:
    """Load a built-in dataset by name (``gz.list_datasets()``) with its fixed split and seed.

    ``NAME[3,5]`` is ``NAME`` with ``classes="3,5"`` (the ``data.name`` of a class subset)."""
    name, classes = split_classes(name)
    if classes is not None:
        if kw.get("classes") is not None:
            raise ConfigError(f"dataset {name}[{classes}] already keeps classes {classes}; drop classes={kw['classes']}")
        kw["classes"] = classes
    if ":" in name:
        prefix, arg = name.split(":", 1)
        fn, args = DATASETS.get(prefix + ":"), (arg,)
    else:
        fn, args = DATASETS.get(name), ()
    _check_options(name, fn, args, kw)
    return fn(*args, split=split, **kw)


def load_split_like(data: GenDataset, split: str) -> GenDataset:
    """Another split of ``data`` read the same way: its recorded ``info["options"]`` (text: the same
    tokenizer object, curation and canaries), e.g. the train split that membership metrics need."""
    options = dict(data.info.get("options") or {})
    if data.kind == "text" and data.tokenizer is not None:
        options["tokenizer"] = data.tokenizer
    return load_dataset(data.name, split=split, **options)


def _check_options(name: str, fn, args: tuple, kw: dict[str, Any]) -> None:
    """Unknown keyword options give a one-line error listing the valid ones."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return
    valid = [p for p in sig.parameters if p != "split"][len(args):]
    bad = sorted(set(kw) - set(valid))
    if bad:
        raise ConfigError(f"dataset {name!r} has no option {bad[0]!r}; "
                          f"its options: {', '.join(valid) if valid else '(none)'}")
