"""Memorization, membership inference and pairwise ratings."""
import json
import math
import sqlite3

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve

import genzoo as gz
from genzoo.errors import DataError, NotSupported
from genzoo.metrics.extraction import extraction_rate
from genzoo.metrics.memorization import memorization_from_samples, nearest_distances
from genzoo.metrics.mia import lira_offline_scores, roc_auc, tpr_at_fpr
from genzoo.metrics.pairwise import bradley_terry, elo, rate, read_judgements


# ---- memorization -------------------------------------------------------------------------------
def test_nearest_distances_match_cdist():
    g = torch.Generator().manual_seed(0)
    q, r = torch.randn(50, 5, generator=g, dtype=torch.float64), torch.randn(80, 5, generator=g, dtype=torch.float64)
    expected = torch.cdist(q, r).sort(1).values[:, :3]
    assert torch.allclose(nearest_distances(q, r, k=3), expected, atol=1e-7)


def test_copies_are_flagged_and_fresh_samples_are_not():
    train, test = gz.load_dataset("digits", "train"), gz.load_dataset("digits", "test")
    flat = lambda x: x.reshape(len(x), -1)  # noqa: E731
    g = torch.Generator().manual_seed(0)
    copies = flat(train.x[:200]) + 0.01 * torch.randn(200, 64, generator=g)
    fresh = flat(test.x[:150])
    held = flat(test.x[150:])
    mem = memorization_from_samples(copies, flat(train.x), held)
    ok = memorization_from_samples(fresh, flat(train.x), held)
    assert mem["mem_near_copies"] == 1.0 and ok["mem_near_copies"] < 0.05
    assert mem["dcr_median"] < 0.1 < 1.0 < ok["dcr_median"]
    assert mem["mem_nn_ratio"] < 0.8 and 0.8 < ok["mem_nn_ratio"] < 1.25
    assert 0.35 < ok["dcr_closer_to_train"] < 0.65


def test_registered_memorization_metric_uses_train_split():
    test = gz.load_dataset("digits", "test")
    out = gz.evaluate(None, test, metrics=["memorization"], samples=gz.load_dataset("digits", "train").x[:100])
    assert out["mem_near_copies"] == 1.0 and out["dcr_median"] == 0.0


def test_extraction_rate_by_hand():
    train = "the quick brown fox jumps over the lazy dog. " * 2 + "lorem ipsum dolor"
    gens = ["xx" + train[5:25] + "yy", "nothing in common with it", train[-12:]]
    out = extraction_rate(gens, train, n=10)
    assert out == {"extraction_rate": pytest.approx(2 / 3), "extracted_fraction": pytest.approx((20 + 12) / (24 + 25 + 12))}
    ids = extraction_rate([torch.tensor([1, 2, 3, 4, 9]), torch.tensor([7, 7, 7]), torch.tensor([5])], torch.arange(10), n=3)
    assert ids == {"extraction_rate": pytest.approx(1 / 3), "extracted_fraction": pytest.approx(4 / 9)}


class Memorizer(torch.nn.Module):
    """generate() that continues a known training prefix with its training continuation, else noise."""

    def __init__(self, rows, recall=True):
        super().__init__()
        self.rows, self.recall = rows, recall

    def generate(self, prompts, max_new_tokens, do_sample):
        out = []
        for p in prompts:
            match = (self.rows[:, : len(p)] == p).all(1).nonzero()
            if self.recall and len(match):
                out.append(self.rows[match[0, 0], : len(p) + max_new_tokens])
            else:
                out.append(torch.cat([p, torch.full((max_new_tokens,), 99)]))
        return torch.stack(out)


def test_prompted_extraction_metric():
    g = torch.Generator().manual_seed(0)
    train, held = torch.randint(0, 50, (40, 24), generator=g), torch.randint(0, 50, (10, 24), generator=g)
    data = gz.GenDataset("toytext", "test", "text", held)
    kw = dict(train=train, num_prompts=20, prefix_len=8, suffix_len=16)
    copier = gz.evaluate(Memorizer(train), data, metrics=["extraction"], **kw)
    assert copier == {"extraction_exact": 1.0, "extraction_exact_heldout": 0.0, "extraction_rate": 1.0,
                      "extracted_fraction": 1.0}
    honest = gz.evaluate(Memorizer(train, recall=False), data, metrics=["extraction"], **kw)
    assert honest["extraction_exact"] == 0.0 and honest["extraction_rate"] == 0.0
    with pytest.raises(NotSupported, match="generate"):
        gz.evaluate(torch.nn.Linear(1, 1), data, metrics=["extraction"], **kw)


# ---- membership inference -----------------------------------------------------------------------
def test_auc_and_tpr_match_sklearn_with_ties():
    g = torch.Generator().manual_seed(0)
    m = ((torch.randn(500, generator=g) + 0.7) * 4).round() / 4
    n = (torch.randn(700, generator=g) * 4).round() / 4
    y, s = [1] * 500 + [0] * 700, torch.cat([m, n]).numpy()
    assert roc_auc(m, n) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    fpr, tpr, _ = roc_curve(y, s)
    for level in (0.01, 0.1):
        assert tpr_at_fpr(m, n, level) == pytest.approx(tpr[fpr <= level].max())


class KDE(torch.nn.Module):
    """Gaussian kernel density on a training set: small bandwidth = memorizing, large = smooth."""

    def __init__(self, data, bandwidth):
        super().__init__()
        self.data, self.h = data.reshape(len(data), -1).double(), bandwidth

    def log_prob(self, x):
        d2 = torch.cdist(x.reshape(len(x), -1).double(), self.data) ** 2
        dim = self.data.shape[1]
        norm = math.log(len(self.data)) + 0.5 * dim * math.log(2 * math.pi * self.h**2)
        return torch.logsumexp(-d2 / (2 * self.h**2), dim=1) - norm


def test_overfit_model_leaks_membership_more_than_smooth_one():
    train, test = gz.load_dataset("digits", "train"), gz.load_dataset("digits", "test")
    members = train.x[:600]
    overfit = gz.evaluate(KDE(members, 0.3), test, metrics=["mia"], train=members, max_examples=300)
    smooth = gz.evaluate(KDE(members, 3.0), test, metrics=["mia"], train=members, max_examples=300)
    assert overfit["mia_loss_auc"] > 0.95 and overfit["mia_loss_tpr_at_1fpr"] > 0.5
    assert smooth["mia_loss_auc"] < overfit["mia_loss_auc"] - 0.2


def test_offline_lira_with_reference_models_on_disjoint_data():
    train = gz.load_dataset("digits", "train")
    test = gz.load_dataset("digits", "test")
    members = train.x[:300]
    refs = [KDE(train.x[300 + 300 * i: 600 + 300 * i], 0.6) for i in range(3)]  # disjoint from members and test
    out = gz.evaluate(KDE(members, 0.6), test, metrics=["mia"], train=members, reference_models=refs, max_examples=300)
    assert out["mia_lira_auc"] > 0.9 and out["mia_examples"] == 300
    with pytest.raises(DataError, match="R >= 2"):
        lira_offline_scores(torch.zeros(5), torch.zeros(1, 5))


@pytest.mark.slow  # runs the Trainer (first optimizer step imports heavy modules)
def test_train_reference_models_on_disjoint_chunks():
    from genzoo.metrics.mia import train_reference_models

    pool = gz.load_dataset("8gaussians", "test")
    pool = gz.GenDataset(pool.name, "train", "2d", pool.x[:400], info=pool.info)
    refs = train_reference_models("gaussian", pool, count=2, steps=3, batch_size=64, lr=1e-2, log_every=1000)
    assert len(refs) == 2 and all(torch.isfinite(r.log_prob(pool.x[:5])).all() for r in refs)
    assert not torch.equal(refs[0].log_prob(pool.x[:5]), refs[1].log_prob(pool.x[:5]))  # different data
    with pytest.raises(DataError, match="count >= 2"):
        train_reference_models("gaussian", pool, count=1)


def test_mia_needs_log_prob():
    class NoLikelihood(torch.nn.Module):
        pass

    with pytest.raises(NotSupported, match="log_prob"):
        gz.evaluate(NoLikelihood(), gz.load_dataset("digits", "test"), metrics=["mia"])


# ---- pairwise ratings ---------------------------------------------------------------------------
def simulate(theta, games=1500, seed=0):
    g = torch.Generator().manual_seed(seed)
    names = [f"m{i}" for i in range(len(theta))]
    out = []
    for _ in range(games):
        i, j = torch.randperm(len(theta), generator=g)[:2].tolist()
        win = torch.rand(1, generator=g).item() < 1 / (1 + math.exp(theta[j] - theta[i]))
        out.append((names[i], names[j], float(win)))
    return out


def test_bradley_terry_equals_logistic_regression_mle():
    judgements = simulate([0.0, 0.5, 1.0, 2.0])
    x, y = np.zeros((len(judgements), 4)), np.array([s for *_, s in judgements])
    for r, (a, b, _) in enumerate(judgements):
        x[r, int(a[1])], x[r, int(b[1])] = 1, -1
    coef = LogisticRegression(C=np.inf, fit_intercept=False, tol=1e-12, max_iter=10_000).fit(x, y).coef_[0]
    fitted = bradley_terry(judgements, prior=0)
    assert [fitted[f"m{i}"] for i in range(4)] == pytest.approx(list(coef - coef.mean()), abs=1e-6)


def test_rate_recovers_order_with_intervals_and_reads_files(tmp_path):
    judgements = simulate([0.0, 1.0, 2.0], games=900)
    path = tmp_path / "j.jsonl"
    with open(path, "w") as f:
        for a, b, s in judgements:
            f.write(json.dumps({"model_a": a, "model_b": b, "winner": {1.0: "model_a", 0.0: "model_b"}[s]}) + "\n")
    rows = rate(path, bootstrap=100)
    assert [r["model"] for r in rows] == ["m2", "m1", "m0"]
    for r, true in zip(rows, [2.0, 1.0, 0.0]):
        true_rating = 1000 + 400 / math.log(10) * (true - 1.0)
        assert r["bt_low"] < r["bt_rating"] < r["bt_high"] and r["bt_low"] - 40 < true_rating < r["bt_high"] + 40
    db = tmp_path / "j.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE judgements (a TEXT, b TEXT, winner TEXT)")
        con.executemany("INSERT INTO judgements VALUES (?, ?, ?)", [("x", "y", "a"), ("x", "y", "tie"), ("y", "x", "y")])
    assert read_judgements(db) == [("x", "y", 1.0), ("x", "y", 0.5), ("y", "x", 1.0)]


def test_bootstrap_resamples_that_leave_a_model_without_wins_keep_the_prior():
    # "c" plays once and loses: some resamples hold no game of "c" at all, or only its loss; the prior's
    # virtual ties between pairs that met in the data keep every resample finite
    rows = rate([("a", "b", 1.0), ("a", "b", 0.0), ("a", "c", 1.0)] * 1 + [("b", "a", 0.5)], bootstrap=300)
    assert {r["model"] for r in rows} == {"a", "b", "c"}
    assert all(math.isfinite(r["bt_low"]) and r["bt_low"] <= r["bt_rating"] <= r["bt_high"] for r in rows)
    assert rows[-1]["model"] == "c"


def test_elo_by_hand_and_bad_lines(tmp_path):
    ratings = elo([("a", "b", 1.0), ("a", "b", 0.5)])
    ra, rb = 1000 + 32 * 0.5, 1000 - 32 * 0.5  # after the first game (expected score 0.5)
    expected_a = ra + 32 * (0.5 - 1 / (1 + 10 ** ((rb - ra) / 400)))
    assert ratings["a"] == pytest.approx(expected_a) and ratings["a"] + ratings["b"] == pytest.approx(2000)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": "x", "b": "y", "winner": "c"}\n')
    with pytest.raises(DataError, match="line 1"):
        read_judgements(bad)
    with pytest.raises(DataError, match="never won"):
        bradley_terry([("x", "y", 1.0)], prior=0)
