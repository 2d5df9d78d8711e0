import numpy as np
import pytest
import scipy.stats
import torch
from prdc import compute_prdc

import genzoo.metrics._pairwise as pairwise
from genzoo.errors import ConfigError, DataError
from genzoo.metrics import energy_distance, mmd, prdc
from genzoo.metrics.kid import polynomial_kernel, unbiased_mmd2


def features(n, m, d, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(np.float32), (rng.standard_normal((m, d)) * 1.1 + 0.1).astype(np.float32)


@pytest.mark.parametrize("n, m, d, k", [(400, 437, 8, 5), (1200, 900, 64, 3), (700, 700, 2, 10)])
def test_prdc_matches_package(n, m, d, k, capsys):
    real, fake = features(n, m, d, seed=n)
    ref = compute_prdc(real, fake, nearest_k=k)
    ours = prdc(real, fake, k=k)
    assert ours == pytest.approx({key: float(v) for key, v in ref.items()}, abs=1e-12)


def test_prdc_blocks_give_same_answer(monkeypatch):
    real, fake = features(300, 250, 16, seed=1)
    whole = prdc(real, fake)
    monkeypatch.setattr(pairwise, "BLOCK_BYTES", 37 * 250 * 4)  # 37-row blocks, ragged last block
    monkeypatch.setattr(pairwise.row_blocks, "__defaults__", (4, pairwise.BLOCK_BYTES))
    assert prdc(real, fake) == whole


def test_prdc_identical_sets():
    real, _ = features(300, 1, 4, seed=2)
    out = prdc(real, real.copy())
    assert out["precision"] == out["recall"] == out["coverage"] == 1.0


def test_prdc_too_few_samples():
    with pytest.raises(DataError, match="more than k"):
        prdc(np.zeros((5, 2)), np.zeros((20, 2)), k=5)


def brute_mmd(x, y, bws, unbiased):
    k = lambda a, b: sum(torch.exp(-torch.cdist(a, b) ** 2 / (2 * s * s)) for s in bws)  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    n, m = len(x), len(y)
    if unbiased:
        return ((kxx.sum() - kxx.trace()) / (n * (n - 1)) + (kyy.sum() - kyy.trace()) / (m * (m - 1)) - 2 * kxy.mean()).item()
    return (kxx.mean() + kyy.mean() - 2 * kxy.mean()).item()


@pytest.mark.parametrize("unbiased", [True, False])
def test_mmd_rbf_matches_brute_force(unbiased):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(150, 3, generator=g, dtype=torch.float64), torch.randn(120, 3, generator=g, dtype=torch.float64) + 0.3
    assert mmd(x, y, bandwidths=[0.5, 2.0], unbiased=unbiased) == pytest.approx(brute_mmd(x, y, [0.5, 2.0], unbiased), rel=1e-10)


def test_mmd_poly_is_the_kid_statistic():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(100, 6, generator=g, dtype=torch.float64), torch.randn(100, 6, generator=g, dtype=torch.float64)
    k = polynomial_kernel
    assert mmd(x, y, kernel="poly") == pytest.approx(unbiased_mmd2(k(x, x), k(x, y), k(y, y)).item(), rel=1e-10)


def test_mmd_detects_shift_and_bad_kernel():
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(500, 2, generator=g), torch.randn(500, 2, generator=g)
    assert abs(mmd(x, y)) < 0.01 < mmd(x, y + 0.5)
    with pytest.raises(ConfigError, match="kernel"):
        mmd(x, y, kernel="cosine")


def test_energy_distance_matches_scipy_in_1d():
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(300, 1, generator=g, dtype=torch.float64), 1.3 * torch.randn(200, 1, generator=g, dtype=torch.float64)
    assert energy_distance(x, y) == pytest.approx(scipy.stats.energy_distance(x[:, 0], y[:, 0]) ** 2, rel=1e-10)


def test_energy_distance_unbiased_matches_brute_force():
    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(80, 3, generator=g, dtype=torch.float64), torch.randn(60, 3, generator=g, dtype=torch.float64) + 1
    dxx, dyy, dxy = torch.cdist(x, x), torch.cdist(y, y), torch.cdist(x, y)
    expected = 2 * dxy.mean() - dxx.sum() / (80 * 79) - dyy.sum() / (60 * 59)
    assert energy_distance(x, y, unbiased=True) == pytest.approx(expected.item(), rel=1e-7)
