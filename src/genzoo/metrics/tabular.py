"""Metrics of synthetic tables (models trained on ``data/tables.py`` sets, a samples tensor, or a DataFrame).

- ``tstr`` / ``trtr``: train a scikit-learn random forest (100 trees) on the synthetic rows (TSTR) and
  on the real train split (TRTR), score both on the real test split: accuracy and macro-F1 for a
  categorical target, R^2 for a numeric one; ``tstr_ratio`` = TSTR / TRTR of F1 (R^2).
  (Esteban et al. 2017; Xu et al. 2019 use the same "machine learning efficacy".)
- ``quality``: sdmetrics' ``QualityReport`` against the real train split: ``quality`` (the mean of)
  ``quality_column_shapes`` (KS complement / TV complement per column) and
  ``quality_column_pair_trends`` (correlation / contingency similarity per pair).
- ``dcr`` / ``nndr``: in the encoded numeric space (numeric columns standardised by the train split,
  categoricals one-hot), the distance of each synthetic row to its closest real training row (median
  ``dcr``; ``dcr_holdout``: the same for real test rows, the level of a fresh sample) and the ratio of
  the closest to the second-closest distance (median ``nndr``; near 0 = copies).
- ``detection_auc``: ROC AUC of a random forest (100 trees) telling real train rows from as many synthetic
  rows, 5-fold cross-validated (0.5: indistinguishable, 1: always told apart; SDMetrics'
  LogisticDetection with a non-linear classifier: a linear one misses most defects).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import DataError
from ..registry import register_metric

_LAST: dict[str, Any] = {}


def _splits(data):
    from ..data.loading import load_split_like

    tf = data.info.get("transform") if hasattr(data, "info") else None
    if tf is None:
        raise DataError(f"tabular metrics need a table dataset (e.g. wine, fair, table:FILE.csv), not {data.name!r}")
    train = data if data.split == "train" else load_split_like(data, "train")
    test = data if data.split == "test" else load_split_like(data, "test")
    return tf, train.frame, test.frame


def synthetic_frame(model, data, *, generator: torch.Generator | None = None, num_samples: int | None = None, **kw):
    """The synthetic rows: ``model`` itself (a DataFrame), decoded (a tensor of encoded rows), or
    ``len(train)`` rows sampled from a model (cached, so several metrics share one draw)."""
    import pandas as pd

    from ..pipelines.tabular import sample_table

    tf, train, _ = _splits(data)
    if isinstance(model, pd.DataFrame):
        frame = model
    elif torch.is_tensor(model):
        frame = tf.inverse(model)
    else:
        n = num_samples or len(train)
        key = (id(model), n, None if generator is None else generator.initial_seed(), data.name)
        if _LAST.get("key") != key:
            _LAST.update(key=key, frame=sample_table(model, n, generator=generator))
        frame = _LAST["frame"]
    missing = [c for c in tf.names if c not in frame.columns]
    if missing:
        raise DataError(f"the synthetic rows lack column {missing[0]!r} of {data.name}; evaluate on the table they imitate")
    return frame


def encoded_features(frame, tf, reference, exclude=()) -> np.ndarray:
    """Numeric columns standardised by ``reference`` (the train split), categoricals one-hot."""
    parts = []
    for col in tf.columns:
        name = col["name"]
        if name in exclude:
            continue
        if col["type"] == "numeric":
            ref = reference[name].to_numpy(dtype=np.float64)
            try:
                values = frame[name].to_numpy(dtype=np.float64)
            except (TypeError, ValueError):
                raise DataError(f"column {name!r} of the synthetic rows holds non-numbers; it is numeric in the data") from None
            parts.append(((values - ref.mean()) / (ref.std() or 1.0))[:, None])
        else:
            parts.append(np.eye(len(col["categories"]))[tf.codes(name, frame[name].tolist())])
    return np.hstack(parts)


def efficacy(train, test, tf, seed: int = 0) -> dict[str, float]:
    """Scores on ``test`` of a random forest fitted on ``train`` to predict the transform's target."""
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.metrics import accuracy_score, f1_score, r2_score

    target = tf.target
    x, x_test = (encoded_features(f, tf, train, exclude=(target,)) for f in (train, test))
    if tf.task == "classification":
        y, y_test = train[target].astype(str), test[target].astype(str)
        pred = RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1).fit(x, y).predict(x_test)
        return {"accuracy": float(accuracy_score(y_test, pred)), "f1": float(f1_score(y_test, pred, average="macro"))}
    y, y_test = train[target].to_numpy(float), test[target].to_numpy(float)
    pred = RandomForestRegressor(n_estimators=100, random_state=seed, n_jobs=1).fit(x, y).predict(x_test)
    return {"r2": float(r2_score(y_test, pred))}


def tstr_from_frames(synthetic, train, test, tf, seed: int = 0) -> dict[str, float]:
    real, synth = efficacy(train, test, tf, seed), efficacy(synthetic, test, tf, seed)
    key = "f1" if tf.task == "classification" else "r2"
    out = {**{f"tstr_{k}": v for k, v in synth.items()}, **{f"trtr_{k}": v for k, v in real.items()}}
    out["tstr_ratio"] = synth[key] / real[key] if real[key] else float("nan")
    return out


def quality_from_frames(synthetic, real, tf) -> dict[str, float]:
    from sdmetrics.reports import QualityReport

    columns = {c["name"]: {"sdtype": "numerical" if c["type"] == "numeric" else "categorical"} for c in tf.columns}
    report = QualityReport()
    report.generate({"table": real}, {"table": synthetic[real.columns]}, {"tables": {"table": {"columns": columns}}},
                    verbose=False)
    props = report.get_properties().set_index("Property")["Score"]
    return {"quality": float(report.get_score()), "quality_column_shapes": float(props["Column Shapes"]),
            "quality_column_pair_trends": float(props.get("Column Pair Trends", float("nan")))}


def distances_from_frames(synthetic, train, test, tf) -> dict[str, float]:
    from sklearn.neighbors import NearestNeighbors

    ref = encoded_features(train, tf, train)
    nn = NearestNeighbors(n_neighbors=2).fit(ref)
    d, _ = nn.kneighbors(encoded_features(synthetic, tf, train))
    held, _ = nn.kneighbors(encoded_features(test, tf, train), n_neighbors=1)
    ratio = np.where(d[:, 1] > 0, d[:, 0] / np.maximum(d[:, 1], 1e-300), 0.0)
    return {"dcr": float(np.median(d[:, 0])), "dcr_p5": float(np.quantile(d[:, 0], 0.05)),
            "dcr_holdout": float(np.median(held[:, 0])), "nndr": float(np.median(ratio))}


def detection_from_frames(synthetic, train, tf, seed: int = 0) -> dict[str, float]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    x = np.vstack([encoded_features(train, tf, train), encoded_features(synthetic, tf, train)])
    y = np.r_[np.ones(len(train)), np.zeros(len(synthetic))]
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    auc = cross_val_score(RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1), x, y, cv=cv, scoring="roc_auc")
    return {"detection_auc": float(auc.mean())}


@register_metric("tstr")
@register_metric("trtr")
def tstr_metric(model, data, *, seed: int = 0, **kw) -> dict[str, float]:
    tf, train, test = _splits(data)
    return tstr_from_frames(synthetic_frame(model, data, **kw), train, test, tf, seed)


@register_metric("quality")
def quality_metric(model, data, **kw) -> dict[str, float]:
    tf, train, _ = _splits(data)
    return quality_from_frames(synthetic_frame(model, data, **kw), train, tf)


@register_metric("dcr")
@register_metric("nndr")
def distance_metric(model, data, **kw) -> dict[str, float]:
    tf, train, test = _splits(data)
    return distances_from_frames(synthetic_frame(model, data, **kw), train, test, tf)


@register_metric("detection_auc")
def detection_metric(model, data, *, seed: int = 0, **kw) -> dict[str, float]:
    tf, train, _ = _splits(data)
    return detection_from_frames(synthetic_frame(model, data, **kw), train, tf, seed)
