"""``TableTransform``: a mixed-type table <-> one float vector per row (CTGAN's encoding).

Numeric column c (Xu et al. 2019, "Modeling Tabular Data using Conditional GAN", sec. 4.2,
*mode-specific normalisation*): a variational Gaussian mixture (scikit-learn's
``BayesianGaussianMixture``, Dirichlet-process prior, 10 components, modes with weight < 0.005
dropped) is fitted to the column; a value x is encoded as

    k = argmax_j  w_j N(x; mu_j, sigma_j)          (its mode; CTGAN samples it, we take the argmax)
    alpha = clip((x - mu_k) / (4 sigma_k), -0.99, 0.99)
    code = [alpha, one_hot(k)]

and decoded as ``x = alpha * 4 sigma_k + mu_k`` with k = argmax of the mode block (clipped to the
training range, rounded for integer columns). Categorical columns are one-hot; decoding takes the
argmax, so the round trip is exact for categoricals and exact up to float32 (and the clip, beyond
4 sigma of a mode) for numerics. The column types, dtypes, categories and mixture parameters are
kept as JSON (``table_transform.json``) so a saved model decodes without the training data.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError

TRANSFORM_NAME = "table_transform.json"
COLUMN_TYPES = ("numeric", "categorical")


def infer_column_types(frame) -> dict[str, str]:
    """numeric for int/float columns, categorical for object/bool/category; anything else is an error."""
    import pandas as pd

    types = {}
    for col in frame.columns:
        dtype = frame[col].dtype
        if pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(dtype) \
                or pd.api.types.is_string_dtype(dtype):
            types[str(col)] = "categorical"
        elif pd.api.types.is_numeric_dtype(dtype):
            types[str(col)] = "numeric"
        else:
            raise DataError(f"column {col!r} has type {dtype}, which genzoo cannot model; "
                            f"convert it to numbers or categories ({', '.join(COLUMN_TYPES)})")
    return types


def _fit_modes(values: np.ndarray, max_modes: int, seed: int) -> dict[str, list[float]]:
    """The weights, means and stds of the valid modes of a variational GMM (CTGAN's ClusterBasedNormalizer)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import BayesianGaussianMixture

    x = values.astype(np.float64)[:, None]
    k = int(min(max_modes, len(np.unique(x))))
    if k <= 1:
        std = float(x.std()) or 1.0
        return {"weights": [1.0], "means": [float(x.mean())], "stds": [std]}
    gmm = BayesianGaussianMixture(n_components=k, weight_concentration_prior_type="dirichlet_process",
                                  weight_concentration_prior=0.001, max_iter=100, n_init=1, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm.fit(x)
    keep = gmm.weights_ > 0.005
    if not keep.any():
        keep = gmm.weights_ == gmm.weights_.max()
    floor = 1e-3 * (float(x.std()) or 1.0)
    w = gmm.weights_[keep]
    return {"weights": (w / w.sum()).tolist(), "means": gmm.means_[keep, 0].tolist(),
            "stds": np.maximum(np.sqrt(gmm.covariances_[keep].reshape(-1)), floor).tolist()}


class TableTransform:
    """Encode a pandas DataFrame to an (N, D) float32 array and back (module docstring).

    ``columns``: a list of dicts ``{"name", "type", "dtype", ...}`` (``categories`` and training
    ``counts`` for categorical,
    ``weights/means/stds/min/max/integer`` for numeric) in table order. ``condition`` names the
    categorical column whose codes are the dataset's labels (native conditioning), or None.
    """

    def __init__(self, columns: list[dict[str, Any]], condition: str | None = None, target: str | None = None,
                 task: str | None = None):
        self.columns, self.condition, self.target, self.task = columns, condition, target, task
        self.spans: list[tuple[int, int]] = []  # (start, width) of each column's code
        start = 0
        for col in columns:
            width = len(col["categories"]) if col["type"] == "categorical" else 1 + len(col["means"])
            self.spans.append((start, width))
            start += width
        self.dim = start

    # --- fitting ----------------------------------------------------------------------------------
    @classmethod
    def fit(cls, frame, types: dict[str, str] | None = None, *, condition: str | None = None, target: str | None = None,
            task: str | None = None, max_modes: int = 10, seed: int = 0) -> "TableTransform":
        """Fit to ``frame``; ``types`` maps columns to numeric/categorical (inferred from dtypes if None)."""
        if frame is None or len(frame) == 0 or len(frame.columns) == 0:
            raise DataError("the table is empty (no rows or no columns); give a table with data")
        types = dict(types or infer_column_types(frame))
        missing = [c for c in frame.columns if str(c) not in types]
        if missing:
            raise DataError(f"column {missing[0]!r} has no type; give it one of {', '.join(COLUMN_TYPES)}")
        for name, kind in types.items():
            if kind not in COLUMN_TYPES:
                raise DataError(f"column {name!r} has unknown type {kind!r}; use one of {', '.join(COLUMN_TYPES)}")
            if name not in frame.columns:
                raise DataError(f"column {name!r} is typed but not in the table (columns: {', '.join(map(str, frame.columns))})")
        if frame.isna().any().any():
            col = frame.columns[frame.isna().any()][0]
            raise DataError(f"column {col!r} has missing values; fill or drop them first")
        columns = []
        for name in frame.columns:
            series = frame[name]
            col: dict[str, Any] = {"name": str(name), "type": types[str(name)], "dtype": str(series.dtype)}
            if col["type"] == "categorical":
                cats = series.cat.categories.tolist() if str(series.dtype) == "category" else sorted(series.unique().tolist(), key=str)
                col["categories"] = [_plain(v) for v in cats]
                counts = series.value_counts()
                col["counts"] = [int(counts.get(v, 0)) for v in cats]
            else:
                try:
                    values = series.to_numpy(dtype=np.float64)
                except (TypeError, ValueError):
                    raise DataError(f"column {name!r} is typed numeric but holds non-numbers; type it categorical") from None
                if not np.isfinite(values).all():
                    raise DataError(f"column {name!r} has infinite values; clean the table first")
                col.update(_fit_modes(values, max_modes, seed), min=float(values.min()), max=float(values.max()),
                           integer=bool(np.issubdtype(series.dtype, np.integer)))
            columns.append(col)
        if condition is not None and types.get(condition) != "categorical":
            raise DataError(f"condition column {condition!r} must be a categorical column of the table")
        return cls(columns, condition=condition, target=target, task=task)

    # --- encoding ---------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [c["name"] for c in self.columns]

    def column(self, name: str) -> dict[str, Any]:
        for col in self.columns:
            if col["name"] == name:
                return col
        raise DataError(f"the table has no column {name!r} (columns: {', '.join(self.names)})")

    def one_hot_blocks(self) -> list[tuple[int, int]]:
        """``(start, width)`` of every one-hot block: a categorical column's, a numeric column's modes."""
        return [(start, width) if col["type"] == "categorical" else (start + 1, width - 1)
                for col, (start, width) in zip(self.columns, self.spans)]

    def discrete_mask(self) -> np.ndarray:
        """True for the one-hot dimensions (categories and modes), False for the alphas."""
        mask = np.zeros(self.dim, dtype=bool)
        for start, width in self.one_hot_blocks():
            mask[start:start + width] = True
        return mask

    def codes(self, name: str, values) -> np.ndarray:
        """Category indices of ``values`` in column ``name``; an unseen value is a one-line error."""
        col = self.column(name)
        if col["type"] != "categorical":
            raise DataError(f"column {name!r} is numeric; conditions and labels need a categorical column")
        lookup = {_key(v): i for i, v in enumerate(col["categories"])}
        out = []
        for v in values:
            if _key(v) not in lookup:
                shown = ", ".join(map(str, col["categories"][:20]))
                raise DataError(f"column {name!r} has no value {v!r} in training (its values: {shown})")
            out.append(lookup[_key(v)])
        return np.asarray(out, dtype=np.int64)

    def transform(self, frame) -> np.ndarray:
        """(N, dim) float32 codes of ``frame`` (which must have the fitted columns)."""
        absent = [n for n in self.names if n not in frame.columns]
        if absent:
            raise DataError(f"the table lacks column {absent[0]!r} that the model was trained with")
        out = np.zeros((len(frame), self.dim), dtype=np.float32)
        rows = np.arange(len(frame))
        for col, (start, width) in zip(self.columns, self.spans):
            if col["type"] == "categorical":
                out[rows, start + self.codes(col["name"], frame[col["name"]].tolist())] = 1.0
                continue
            x = frame[col["name"]].to_numpy(dtype=np.float64)[:, None]
            mu, sd, w = (np.asarray(col[k])[None] for k in ("means", "stds", "weights"))
            k = np.argmax(np.log(w) - np.log(sd) - 0.5 * ((x - mu) / sd) ** 2, axis=1)
            out[:, start] = np.clip((x[:, 0] - mu[0, k]) / (4 * sd[0, k]), -0.99, 0.99)
            out[rows, start + 1 + k] = 1.0
        return out

    def inverse(self, codes) -> Any:
        """A DataFrame with the original columns, dtypes and categories from (N, dim) codes."""
        import pandas as pd

        codes = np.asarray(codes.detach().cpu() if hasattr(codes, "detach") else codes, dtype=np.float64)
        if codes.ndim != 2 or codes.shape[1] != self.dim:
            raise DataError(f"expected rows of {self.dim} encoded values, got shape {tuple(codes.shape)}")
        data = {}
        for col, (start, width) in zip(self.columns, self.spans):
            if col["type"] == "categorical":
                idx = codes[:, start:start + width].argmax(1)
                values = [col["categories"][i] for i in idx]
                data[col["name"]] = _restore(pd.Series(values), col)
                continue
            k = codes[:, start + 1:start + width].argmax(1)
            x = np.clip(codes[:, start], -1, 1) * 4 * np.asarray(col["stds"])[k] + np.asarray(col["means"])[k]
            x = np.clip(x, col["min"], col["max"])
            data[col["name"]] = pd.Series(np.round(x) if col["integer"] else x).astype(col["dtype"])
        return pd.DataFrame(data, columns=self.names)

    # --- persistence ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "condition": self.condition, "target": self.target, "task": self.task}

    def save(self, directory) -> None:
        Path(directory, TRANSFORM_NAME).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, directory) -> "TableTransform":
        path = Path(directory, TRANSFORM_NAME)
        try:
            d = json.loads(path.read_text())
            return cls(d["columns"], condition=d.get("condition"), target=d.get("target"), task=d.get("task"))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise DataError(f"{path}: not a readable table transform ({e}); retrain the model") from None


def _plain(v):
    """A JSON-friendly Python scalar (numpy ints/floats/bools -> int/float/bool)."""
    return v.item() if hasattr(v, "item") else v


def _key(v):
    """Lookup key: 3, 3.0 and "3" name the same category (CLI values arrive as strings)."""
    v = _plain(v)
    if isinstance(v, bool):
        return str(v)
    try:
        f = float(v)
        return repr(int(f)) if f.is_integer() else repr(f)
    except (TypeError, ValueError):
        return str(v)


def _restore(series, col: dict[str, Any]):
    """Categorical values back to the column's original dtype."""
    import pandas as pd

    if col["dtype"] == "category":
        return pd.Series(pd.Categorical(series, categories=col["categories"]))
    try:
        return series.astype(col["dtype"])
    except (TypeError, ValueError):
        return series.astype(object)
