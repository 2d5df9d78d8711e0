"""Built-in tables load offline with their column types, a fixed split and labels."""
import pytest
import torch

import genzoo as gz
from genzoo.errors import DataError


def types(data):
    return {c["name"]: c["type"] for c in data.transform.columns}


def test_wine_and_diabetes_types_splits_and_labels():
    wine = gz.load_dataset("wine")
    assert wine.kind == "tabular" and len(wine) == 142 and len(gz.load_dataset("wine", split="test")) == 36
    t = types(wine)
    assert t["cultivar"] == "categorical" and sum(v == "numeric" for v in t.values()) == 13
    assert wine.num_classes == 3 and torch.equal(wine.y, torch.as_tensor(wine.transform.codes("cultivar", wine.frame["cultivar"])))
    diabetes = gz.load_dataset("diabetes")
    t = types(diabetes)
    assert t["sex"] == "categorical" and t["progression"] == "numeric" and diabetes.transform.task == "regression"
    assert str(diabetes.frame["age"].dtype) == "int64"
    again = gz.load_dataset("diabetes")
    assert again.frame.equals(diabetes.frame)  # fixed split


def test_fair_is_mixed_and_offline():
    fair = gz.load_dataset("fair")
    t = types(fair)
    assert t["affair"] == "categorical" and t["age"] == "numeric" and t["occupation"] == "categorical"
    assert "affairs" not in t  # the amount would leak the target
    assert set(fair.frame["affair"]) == {"yes", "no"}


def test_batches_are_dequantised_only_on_one_hot_dims():
    wine = gz.load_dataset("wine")
    x, _ = wine.batch(torch.arange(len(wine)))
    diff = (x - wine.x).abs()
    mask = wine.discrete
    assert diff[:, ~mask].max() == 0 and 0 < diff[:, mask].max() <= 0.25
    assert (wine.transform.inverse(x)["cultivar"] == wine.frame["cultivar"]).all()  # argmax decoding unchanged


def test_user_table_types_and_errors(tmp_path):
    from table_helpers import write_csv

    path = write_csv(tmp_path)
    data = gz.load_dataset(f"table:{path}", target="label", categorical="count")
    assert types(data) == {"size": "numeric", "count": "categorical", "colour": "categorical", "flag": "categorical",
                           "label": "categorical"}
    declared = gz.load_dataset(f"table:{path}", types="count:categorical,size:numeric")
    assert types(declared)["count"] == "categorical" and types(declared)["colour"] == "categorical"
    with pytest.raises(DataError, match="'shade' \\(in categorical= or types=\\) is not a column"):
        gz.load_dataset(f"table:{path}", categorical="shade")
    with pytest.raises(DataError, match="target='nope' is not a column"):
        gz.load_dataset(f"table:{path}", target="nope")


@pytest.mark.parametrize("content", ["", "a,b\n"])
def test_empty_user_table(tmp_path, content):
    (tmp_path / "t.csv").write_text(content)
    with pytest.raises(DataError, match="the table is empty"):
        gz.load_dataset(f"table:{tmp_path / 't.csv'}")
