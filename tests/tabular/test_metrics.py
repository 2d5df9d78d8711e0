"""Tabular metrics on tiny tables: known values for the real data itself."""
import pytest
import torch
from table_helpers import write_csv

import genzoo as gz
from genzoo.metrics.tabular import encoded_features


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = write_csv(tmp_path_factory.mktemp("m"), n=120)
    return gz.load_dataset(f"table:{path}"), gz.load_dataset(f"table:{path}", split="test")


def test_tstr_of_the_real_train_set_equals_trtr(table):
    train, test = table
    r = gz.evaluate(train.frame, test, metrics=["tstr"])
    assert r["tstr_f1"] == r["trtr_f1"] and r["tstr_accuracy"] == r["trtr_accuracy"] and r["tstr_ratio"] == 1.0
    flipped = train.frame.assign(label=train.frame["label"].map({"big": "small", "small": "big"}))
    assert gz.evaluate(flipped, test, metrics=["tstr"])["tstr_f1"] < 0.5 * r["trtr_f1"]  # wrong labels: poor


def test_dcr_nndr_of_a_copy_is_zero_and_quality_one(table):
    train, test = table
    r = gz.evaluate(train.frame, test, metrics=["dcr", "quality"])
    assert r["dcr"] == 0.0 and r["nndr"] == 0.0 and r["dcr_holdout"] > 0
    assert r["quality"] == pytest.approx(1.0)
    shifted = train.frame.assign(size=train.frame["size"] + 100)
    q = gz.evaluate(shifted, test, metrics=["quality", "detection_auc", "dcr"])
    assert q["quality"] < 0.95 and q["detection_auc"] > 0.95 and q["dcr"] > 10


def test_detection_auc_of_real_vs_real_is_chance(table):
    train, test = table
    assert gz.evaluate(train.frame.sample(frac=1.0, random_state=1), test, metrics=["detection_auc"])["detection_auc"] < 0.6


def test_metrics_take_a_model_or_encoded_rows(table):
    train, test = table
    model = gz.build("gaussian-copula", train)
    r = gz.evaluate(model, test, metrics=["tstr", "dcr"], generator=torch.Generator().manual_seed(0))
    assert 0 <= r["tstr_f1"] <= 1 and r["dcr"] > 0
    r2 = gz.evaluate(train.x, test, metrics=["dcr"])  # encoded rows decode through the dataset's transform
    assert r2["dcr"] == pytest.approx(0.0, abs=1e-6)
    f = encoded_features(train.frame, train.transform, train.frame)
    assert f.shape == (len(train), 2 + 3 + 2 + 2)  # size, count standardised; colour, flag, label one-hot
