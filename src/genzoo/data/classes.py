"""Keep some classes of a labelled set: ``load_dataset("digits", classes="3,5")`` (CLI ``--data-arg classes=3,5``).

The kept set is named ``NAME[3,5]`` (``load_dataset("digits[3,5]")`` loads it again), records the
kept class ids in ``info["classes_kept"]`` and keeps the original labels and ``num_classes``, so a
model, a classifier and the ``class_share`` metric read the ids as before. ``classes=all`` keeps
every class: ``genzoo eval`` reuses the ``--data-arg`` options a run was trained with, so
``genzoo eval LORA_RUN --data digits --data-arg classes=all`` scores against all digits.
"""
from __future__ import annotations

import re

import torch

from ..errors import ConfigError
from .base import GenDataset

_NAMED = re.compile(r"([^:\[\]]+)\[([^\[\]]*)\]")


def split_classes(name: str) -> tuple[str, str | None]:
    """``"digits[3,5]"`` -> ``("digits", "3,5")``; any other name -> ``(name, None)``."""
    m = _NAMED.fullmatch(name)
    return (m.group(1), m.group(2)) if m else (name, None)


def parse_classes(spec, names: list[str]) -> list[int]:
    """Class ids from ``3``, ``"3,5"``, ``"circle,ring"`` or a list of these; ``names`` lists the set's classes."""
    items = spec if isinstance(spec, (list, tuple)) else str(spec).split(",")
    items = [str(item).strip() for item in items if str(item).strip()]
    valid = ", ".join(f"{i} ({n})" if n != str(i) else n for i, n in enumerate(names))
    if not items:
        raise ConfigError(f"classes= is empty; name at least one of: {valid}")
    ids = []
    for item in items:
        if item in names:
            ids.append(names.index(item))
        elif item.isdigit() and int(item) < len(names):
            ids.append(int(item))
        else:
            raise ConfigError(f"unknown class {item!r}; valid classes: {valid}")
    return sorted(set(ids))


def keep_classes(data: GenDataset, spec) -> GenDataset:
    """The examples of ``data`` whose label is one of the classes in ``spec`` (see ``parse_classes``);
    ``"all"`` keeps the whole set (to override a run's recorded ``classes`` in ``genzoo eval``)."""
    if spec == "all":
        return data
    if data.y is None:
        raise ConfigError(f"dataset {data.name!r} has no labels to keep classes of")
    ids = parse_classes(spec, list(data.info.get("classes") or map(str, range(data.num_classes or 0))))
    mask = torch.isin(data.y, torch.tensor(ids))
    name = f"{data.name}[{','.join(map(str, ids))}]"
    return GenDataset(name, data.split, data.kind, data.x[mask], data.y[mask], levels=data.levels,
                      num_classes=data.num_classes, tokenizer=data.tokenizer,
                      info={**data.info, "classes_kept": ids})
