"""TableTransform: CTGAN's mode-specific encoding, its inverse and its errors."""
import numpy as np
import pandas as pd
import pytest
from table_helpers import mixed_frame

from genzoo.data.table_transform import TableTransform
from genzoo.errors import DataError


def test_round_trip_exact_for_categoricals_close_for_numerics(tmp_path):
    frame = mixed_frame()
    frame["kind"] = pd.Categorical(np.where(frame["count"] > 9, "hi", "lo"))
    tf = TableTransform.fit(frame)
    codes = tf.transform(frame)
    assert codes.shape == (len(frame), tf.dim) and codes.dtype == np.float32
    tf.save(tmp_path)
    back = TableTransform.load(tmp_path).inverse(codes)  # decodes from the JSON alone
    assert list(back.columns) == list(frame.columns)
    assert (back.dtypes == frame.dtypes).all()
    for col in ("colour", "flag", "label", "kind"):
        assert back[col].tolist() == frame[col].tolist()
    assert (back["count"] == frame["count"]).all()  # integers: exact after rounding
    np.testing.assert_allclose(back["size"], frame["size"], rtol=1e-5, atol=1e-4)


def test_bimodal_column_gets_two_modes_and_alpha_in_range():
    frame = mixed_frame(200)
    tf = TableTransform.fit(frame)
    col = tf.column("size")
    assert len(col["means"]) >= 2
    assert sorted(round(m) for m in col["means"])[0] < 0 < sorted(col["means"])[-1]
    start, width = tf.spans[0]
    codes = tf.transform(frame)
    assert np.abs(codes[:, start]).max() <= 0.99
    assert (codes[:, start + 1:start + width].sum(1) == 1).all()  # one mode per value


def test_errors_are_one_line_data_errors():
    frame = mixed_frame()
    with pytest.raises(DataError, match="empty"):
        TableTransform.fit(frame.iloc[:0])
    with pytest.raises(DataError, match="unknown type 'ordinal'"):
        TableTransform.fit(frame, {**{c: "numeric" for c in frame.columns}, "colour": "ordinal"})
    with pytest.raises(DataError, match="holds non-numbers"):
        TableTransform.fit(frame, {c: "numeric" for c in frame.columns})
    with pytest.raises(DataError, match="cannot model"):
        TableTransform.fit(pd.DataFrame({"t": pd.date_range("2020", periods=5)}))
    tf = TableTransform.fit(frame)
    with pytest.raises(DataError, match="no value 'purple' in training") as e:
        tf.codes("colour", ["purple"])
    assert "\n" not in str(e.value)
    with pytest.raises(DataError, match="is numeric"):
        tf.codes("size", [1.0])


def test_modes_match_ctgans_transformer():
    """Parity: the same valid modes (means, stds) as ctgan's DataTransformer (rdt's ClusterBasedNormalizer)."""
    pytest.importorskip("ctgan")
    from ctgan.data_transformer import DataTransformer

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"v": np.r_[rng.normal(-5, 1, 300), rng.normal(10, 0.5, 200), rng.normal(30, 2, 100)]})
    theirs = DataTransformer()
    theirs.fit(frame, [])
    norm = theirs._column_transform_info_list[0].transform
    assert norm.STD_MULTIPLIER == 4  # alpha = (x - mu) / (4 sigma), as here
    bgm, valid = norm._bgm_transformer, norm.valid_component_indicator
    col = TableTransform.fit(frame, {"v": "numeric"}).column("v")
    order = np.argsort(col["means"])
    np.testing.assert_allclose(np.asarray(col["means"])[order], np.sort(bgm.means_[valid].ravel()), atol=1e-2)
    np.testing.assert_allclose(np.asarray(col["stds"])[order], np.sqrt(bgm.covariances_[valid].ravel())[np.argsort(bgm.means_[valid].ravel())], atol=1e-2)
