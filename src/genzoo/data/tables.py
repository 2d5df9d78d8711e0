"""Mixed-type tables as ``kind="tabular"`` datasets, encoded by ``TableTransform`` (CTGAN's encoding).

Built-in (offline, shipped inside installed packages), each with a target column for TSTR and a
fixed stratified 80/20 train/test split (seed 0):

- ``breast-cancer``: scikit-learn, 569 rows, 30 numeric + target ``diagnosis`` (2 classes)
- ``wine``: scikit-learn, 178 rows, 13 numeric + target ``cultivar`` (3 classes)
- ``diabetes``: scikit-learn (unscaled), 442 rows, 9 numeric + ``sex`` categorical, target
  ``progression`` numeric (regression); its labels (the conditioning column) are ``sex``
- ``fair``: statsmodels' affairs survey, 6366 rows, 3 numeric + 5 categorical + target ``affair``
  (yes/no, from ``affairs > 0``; the ``affairs`` amount is dropped, it would leak the target)
- ``anes96``: statsmodels' 1996 US election survey, 944 rows, 4 numeric + 5 categorical + target ``vote``
- ``table:PATH``: a user's CSV (``--data-arg target=COL``; ``categorical=a,b`` or
  ``types=a:numeric,b:categorical`` to set types; others are inferred: numbers numeric, text/bool categorical)

``x`` is the encoded table (``TableTransform`` fitted on the train split); ``y`` the codes of the
conditioning column (the target for classification sets). ``info["table"]`` is the DataFrame and
``info["transform"]`` the transform. ``batch`` (the Trainer's path) adds uniform noise of width 0.5 to
the one-hot dimensions (dequantisation: continuous densities, e.g. flows, stay finite; the argmax
decoding is unchanged); ``x`` itself stays exact.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import DataError
from ..registry import register_dataset
from ..nn.batch_noise import batch_rand_like
from .base import GenDataset
from .table_transform import TableTransform, infer_column_types

SPLITS = ("train", "test")
JITTER = 0.5


class TableDataset(GenDataset):
    """A GenDataset whose rows are a table encoded by ``info["transform"]``."""

    def __init__(self, name, split, frame, transform: TableTransform, info=None):
        x = torch.as_tensor(transform.transform(frame))
        y, classes = None, None
        if transform.condition is not None:
            y = torch.as_tensor(transform.codes(transform.condition, frame[transform.condition].tolist()))
            classes = len(transform.column(transform.condition)["categories"])
        super().__init__(name, split, "tabular", x, y, num_classes=classes,
                         info={**(info or {}), "table": frame, "transform": transform})
        self.discrete = torch.as_tensor(transform.discrete_mask())

    @property
    def frame(self):
        return self.info["table"]

    @property
    def transform(self) -> TableTransform:
        return self.info["transform"]

    def batch(self, index):
        x = self.x[index]
        x = x + self.discrete * (batch_rand_like(x) - 0.5) * JITTER
        return x if self.y is None else (x, self.y[index])


def split_table(frame, target: str | None, task: str | None, seed: int = 0):
    """Fixed 80/20 train/test split (stratified on a classification target)."""
    from sklearn.model_selection import train_test_split

    if len(frame) < 5:
        raise DataError(f"the table has {len(frame)} rows; genzoo needs at least 5 to split it 80/20")
    strat = frame[target] if task == "classification" and frame[target].value_counts().min() >= 2 else None
    train, test = train_test_split(frame, test_size=0.2, random_state=seed, stratify=strat)
    return train.reset_index(drop=True), test.reset_index(drop=True)


_CACHE: dict[tuple, tuple] = {}


def make_table_dataset(name, split, loader, *, target, task, types=None, condition=None, key=(), options=None) -> TableDataset:
    """The ``split`` of the table ``loader()`` returns; the split and the fitted transform are cached per
    ``(name, key)`` (the GMM fits take seconds), so train and test share one transform."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} for {name}; use one of {', '.join(SPLITS)}")
    if (name, key) not in _CACHE:
        frame = loader()
        train, test = split_table(frame, target, task)
        transform = TableTransform.fit(train, types or infer_column_types(frame), condition=condition, target=target, task=task)
        _CACHE[(name, key)] = ({"train": train, "test": test}, transform)
    parts, transform = _CACHE[(name, key)]
    return TableDataset(name, split, parts[split].copy(), transform,
                        info={"target": target, "task": task, "options": dict(options or {})})


# --- built-in tables ---------------------------------------------------------------------------------
def _sklearn(loader_name: str, target: str):
    import sklearn.datasets as skd

    bunch = getattr(skd, loader_name)(as_frame=True, **({"scaled": False} if loader_name == "load_diabetes" else {}))
    frame = bunch.frame.rename(columns={"target": target})
    if loader_name != "load_diabetes":
        frame[target] = [str(bunch.target_names[i]) for i in frame[target]]
    return frame


def _classification_types(frame, target: str) -> dict[str, str]:
    return {c: ("categorical" if c == target else "numeric") for c in frame.columns}


@register_dataset("breast-cancer")
def breast_cancer(split: str = "train") -> TableDataset:
    frame = _sklearn("load_breast_cancer", "diagnosis")
    return make_table_dataset("breast-cancer", split, lambda: frame, target="diagnosis", task="classification",
                              condition="diagnosis", types=_classification_types(frame, "diagnosis"))


@register_dataset("wine")
def wine(split: str = "train") -> TableDataset:
    frame = _sklearn("load_wine", "cultivar")
    return make_table_dataset("wine", split, lambda: frame, target="cultivar", task="classification",
                              condition="cultivar", types=_classification_types(frame, "cultivar"))


def _diabetes():
    frame = _sklearn("load_diabetes", "progression")
    frame["sex"] = frame["sex"].astype(int)
    frame["age"] = frame["age"].astype(int)
    return frame


@register_dataset("diabetes")
def diabetes(split: str = "train") -> TableDataset:
    frame = _diabetes()
    types = {**{c: "numeric" for c in frame.columns}, "sex": "categorical"}
    return make_table_dataset("diabetes", split, lambda: frame, target="progression", task="regression", condition="sex", types=types)


def _statsmodels_csv(name: str, sep: str = ","):
    """The CSV that statsmodels ships for dataset ``name`` (read directly: offline, no statsmodels import cost)."""
    import importlib.util

    import pandas as pd

    spec = importlib.util.find_spec("statsmodels")
    if spec is None:
        raise DataError(f"dataset {name!r} is read from statsmodels' shipped files; pip install 'genzoo[tabular]'")
    frame = pd.read_csv(Path(spec.submodule_search_locations[0], "datasets", name, f"{name}.csv"), sep=sep)
    return frame.rename(columns=lambda c: c.strip("'"))


def _fair():
    frame = _statsmodels_csv("fair")
    frame["affair"] = ["yes" if a > 0 else "no" for a in frame.pop("affairs")]
    for col in ("rate_marriage", "religious", "educ", "occupation", "occupation_husb"):
        frame[col] = frame[col].astype(int)
    return frame


FAIR_TYPES = {"rate_marriage": "categorical", "age": "numeric", "yrs_married": "numeric", "children": "numeric",
              "religious": "categorical", "educ": "categorical", "occupation": "categorical",
              "occupation_husb": "categorical", "affair": "categorical"}


@register_dataset("fair")
def fair(split: str = "train") -> TableDataset:
    return make_table_dataset("fair", split, _fair, target="affair", task="classification", condition="affair", types=FAIR_TYPES)


def _anes96():
    frame = _statsmodels_csv("anes96", sep="\t")
    frame["vote"] = ["Dole" if v else "Clinton" for v in frame["vote"]]
    for col in ("TVnews", "selfLR", "ClinLR", "DoleLR", "PID", "educ", "income"):
        frame[col] = frame[col].astype(int)
    return frame


ANES_TYPES = {"popul": "numeric", "TVnews": "numeric", "selfLR": "categorical", "ClinLR": "categorical",
              "DoleLR": "categorical", "PID": "categorical", "age": "numeric", "educ": "categorical",
              "income": "numeric", "vote": "categorical"}


@register_dataset("anes96")
def anes96(split: str = "train") -> TableDataset:
    return make_table_dataset("anes96", split, _anes96, target="vote", task="classification", condition="vote", types=ANES_TYPES)


@register_dataset("table:")
def user_table(path: str, split: str = "train", target: str = "", categorical: str = "", types: str = "") -> TableDataset:
    """A user's CSV with a header row; ``target``: the column TSTR predicts (default: the last one);
    ``categorical=a,b`` or ``types=a:numeric,b:categorical`` override the inferred column types."""
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise DataError(f"table:{path}: no such file")
    try:
        frame = pd.read_csv(file)
    except pd.errors.EmptyDataError:
        raise DataError(f"table:{path}: the table is empty; give a CSV with a header row and data rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise DataError(f"table:{path}: not a readable CSV ({str(e).splitlines()[0]})") from None
    if len(frame) == 0 or len(frame.columns) == 0:
        raise DataError(f"table:{path}: the table is empty; give a CSV with a header row and data rows")
    declared = {}
    for item in (t.strip() for t in types.split(",") if t.strip()):
        col, sep, kind = item.partition(":")
        if not sep:
            raise DataError(f"table:{path}: types={item!r}: write COLUMN:numeric or COLUMN:categorical")
        declared[col.strip()] = kind.strip()  # TableTransform.fit rejects an unknown type
    declared.update({c.strip(): "categorical" for c in categorical.split(",") if c.strip()})
    absent = [c for c in declared if c not in frame.columns]
    if absent:
        raise DataError(f"table:{path}: {absent[0]!r} (in categorical= or types=) is not a column (columns: {', '.join(frame.columns)})")
    inferred = infer_column_types(frame.drop(columns=list(declared)))
    kinds = {str(c): declared.get(str(c), inferred.get(str(c))) for c in frame.columns}
    target = target or str(frame.columns[-1])
    if target not in kinds:
        raise DataError(f"table:{path}: target={target!r} is not a column (columns: {', '.join(frame.columns)})")
    task = "classification" if kinds[target] == "categorical" else "regression"
    return make_table_dataset(f"table:{path}", split, lambda: frame, target=target, task=task,
                              condition=target if task == "classification" else None, types=kinds,
                              key=(file.stat().st_mtime_ns, target, categorical, types),
                              options={"target": target, "categorical": categorical, "types": types})
