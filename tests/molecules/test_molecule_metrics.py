"""MOSES metrics: parity with MOSES' own get_all_metrics (moses_parity.json, written by running molsets'
code: make_parity_fixture.py), hand-made cases, FCD of a set with itself, MOSES' precomputed test stats."""
import json
from pathlib import Path

import numpy as np
import pytest

import genzoo as gz
from genzoo.data.molecules import moses_smiles
from genzoo.errors import ConfigError, DataError
from genzoo.metrics import _chem
from genzoo.metrics.molecule_metrics import _moses_stats, set_statistics

FIXTURE = json.loads((Path(__file__).parent / "moses_parity.json").read_text())


def test_every_metric_matches_moses_own_code():
    sets = FIXTURE["inputs"]
    ours = gz.metrics.molecules(sets["gen"], reference={k: sets[k] for k in ("train", "test", "test_scaffolds")},
                                k=tuple(FIXTURE["k"]))
    for name, value in FIXTURE["moses"].items():
        assert ours[name] == pytest.approx(value, rel=1e-6, abs=1e-7), name


def test_valid_unique_novelty_by_hand():
    smiles = ["CCO", "OCC", "C1CC", "", "c1ccccc1", "C1=CC=CC=C1", "CCN", "C(C)(C)(C)(C)C"]
    ref = {"train": ["CCO"], "test": ["CCO", "CCN", "c1ccccc1"]}
    out = gz.metrics.molecules(smiles, reference=ref, k=(5,), fcd_metric=False)
    assert out["valid"] == 5 / 8  # ring not closed, empty, pentavalent carbon
    assert out["unique@5"] == 3 / 5  # CCO twice, benzene twice (Kekulé and aromatic), CCN
    assert out["Novelty"] == 2 / 3 and out["n_valid"] == 5
    assert out["SNN/Test"] == 1.0 and out["Filters"] == 1.0 and "FCD/Test" not in out and "SNN/TestSF" not in out


def test_fcd_of_a_set_with_itself_is_zero():
    test = list(moses_smiles("test", True))[:30]
    out = gz.metrics.molecules(test, reference={"train": [], "test": test}, k=(10,))
    assert abs(out["FCD/Test"]) < 1e-3 and out["SNN/Test"] == 1.0 and out["Frag/Test"] == pytest.approx(1.0)
    assert out["Novelty"] == 1.0 and out["logP"] == 0.0


def test_our_statistics_reproduce_moses_precomputed_test_stats():
    stats, test = _moses_stats("test"), list(moses_smiles("test"))[:20]
    ours = set_statistics(test, fcd=False)
    assert np.array_equal(ours["fps"], stats["fps"][:20])
    for name in ("logP", "SA", "QED", "weight"):
        assert np.allclose(ours[name], stats[name][:20], rtol=0, atol=1e-9), name
    assert all(stats["frag"][f] >= c for f, c in ours["frag"].items())  # our counts of 20 are within MOSES' of all


def test_filters_reject_charges_foreign_atoms_and_big_rings():
    passes = [_chem.passes_filters(_chem.get_mol(s)) for s in ("CC(=O)Nc1ccccc1", "C[N+](C)(C)C", "CC[Se]C", "C1CCCCCCC1")]
    assert passes == [True, False, False, False]


def test_bad_input():
    with pytest.raises(DataError, match="no SMILES"):
        gz.metrics.molecules([])
    with pytest.raises(ConfigError, match="unknown molecule reference"):
        gz.metrics.molecules(["CCO"], reference="zinc")


def test_fragment_similarity_does_not_overflow_on_large_counts():
    """MOSES' Frag/Scaf use scipy's cosine on int64 count vectors, whose |u|²·|v|² overflows at ~30k samples
    against the 176k-molecule test set (MOSES then reports exactly 1.0); genzoo's is float64 throughout."""
    from collections import Counter

    from genzoo.metrics.molecule_metrics import cos_similarity

    ref = Counter({f"frag{i}": 100_000 + 7 * i for i in range(40)})
    gen = Counter({f"frag{i}": 30_000 + (i % 5) * 4_000 for i in range(40)})
    r = np.array([ref[k] for k in sorted(ref)], dtype=np.float64)
    g = np.array([gen[k] for k in sorted(ref)], dtype=np.float64)
    expected = r @ g / np.sqrt((r @ r) * (g @ g))
    assert int(r @ r) * int(g @ g) > np.iinfo(np.int64).max  # the regime where an int64 product wraps
    assert cos_similarity(ref, gen) == pytest.approx(expected, rel=1e-12)
    assert cos_similarity(ref, gen) < 0.999
