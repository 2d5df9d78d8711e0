"""MOSES' precomputed test statistics are read without running arbitrary pickled code."""
from __future__ import annotations

import io
import os
import zipfile

import numpy as np
import pytest

from genzoo.errors import DataError
from genzoo.metrics.molecule_metrics import read_moses_stats


def _npz(tmp_path, obj) -> str:
    arr = np.empty((), dtype=object)
    arr[()] = obj
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=True)
    path = tmp_path / "x_stats.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("stats.npy", buf.getvalue())
    return str(path)


def test_dicts_of_arrays_and_counters_read_back_equal(tmp_path):
    from collections import Counter

    stats = {"FCD": {"mu": np.arange(3, dtype=np.float32), "sigma": np.eye(3)},
             "Frag": {"frag": Counter({"[1*]C": 3, "CC": 1})}, "logP": {"values": np.array([0.5, 1.5])}}
    got = read_moses_stats(_npz(tmp_path, stats))
    assert got["Frag"]["frag"] == stats["Frag"]["frag"]
    np.testing.assert_array_equal(got["FCD"]["sigma"], stats["FCD"]["sigma"])
    assert got["FCD"]["mu"].dtype == np.float32


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_a_file_that_would_call_other_code_is_refused(tmp_path):
    with pytest.raises(DataError, match="posix.system|os.system|nt.system"):
        read_moses_stats(_npz(tmp_path, {"FCD": _Exploit()}))


def test_the_installed_moses_statistics_equal_numpys_reader():
    from genzoo.data.molecules import moses_file

    path = moses_file("dataset/data/test_scaffolds_stats.npz")
    ours, theirs = read_moses_stats(path), np.load(path, allow_pickle=True)["stats"].item()
    assert ours.keys() == theirs.keys()
    np.testing.assert_array_equal(ours["FCD"]["mu"], theirs["FCD"]["mu"])
    np.testing.assert_array_equal(ours["SNN"]["fps"], theirs["SNN"]["fps"])
    assert ours["Scaf"]["scaf"] == theirs["Scaf"]["scaf"]
