import numpy as np
import pytest
import scipy.linalg
import torch
from torchmetrics.image.fid import FrechetInceptionDistance, _compute_fid

import genzoo as gz
from genzoo.errors import DataError
from genzoo.metrics import fid_from_features, frechet_distance, gaussian_stats



def scipy_fid(f1, f2):
    m1, s1, m2, s2 = f1.mean(0), np.cov(f1, rowvar=False), f2.mean(0), np.cov(f2, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return ((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


def test_matches_scipy_sqrtm(correlated):
    f1, f2 = correlated()
    assert fid_from_features(f1, f2) == pytest.approx(scipy_fid(f1, f2), rel=1e-8)


def test_matches_torchmetrics_same_features(correlated, flat):
    f1, f2 = correlated(n=400, d=24)
    metric = FrechetInceptionDistance(feature=flat(24)).double()
    metric.update(torch.from_numpy(f1), real=True)
    metric.update(torch.from_numpy(f2), real=False)
    assert fid_from_features(f1, f2) == pytest.approx(metric.compute().item(), rel=1e-4)


def test_matches_torchmetrics_compute_fid_rank_deficient():
    # fewer samples than dimensions: singular covariances, where a naive sqrt breaks
    g = torch.Generator().manual_seed(1)
    f1, f2 = torch.randn(20, 50, generator=g, dtype=torch.float64), torch.randn(30, 50, generator=g, dtype=torch.float64)
    (m1, s1), (m2, s2) = gaussian_stats(f1), gaussian_stats(f2)
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(_compute_fid(m1, s1, m2, s2).item(), rel=1e-4)


def test_one_dimensional_closed_form():
    # d² = (μ₁-μ₂)² + (σ₁-σ₂)² for 1-D Gaussians (with the sample statistics)
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(1000, generator=g, dtype=torch.float64), 2 * torch.randn(900, generator=g, dtype=torch.float64) + 1
    expected = (x.mean() - y.mean()) ** 2 + (x.std() - y.std()) ** 2
    assert fid_from_features(x[:, None], y[:, None]) == pytest.approx(expected.item(), rel=1e-10)


def test_identical_sets_zero_and_api(correlated):
    f1, _ = correlated()
    assert abs(gz.metrics.fid_from_features(f1, f1.copy())) < 1e-8
    assert fid_from_features(torch.from_numpy(f1).float(), f1) == pytest.approx(0, abs=1e-4)


@pytest.mark.parametrize("real, fake, match", [
    (np.zeros((10, 3)), np.zeros((10, 4)), "dimensions differ"),
    (np.zeros((10, 3)), np.full((10, 3), np.nan), "NaN"),
    (np.zeros((1, 3)), np.zeros((10, 3)), "at least 2"),
    (np.zeros((2, 3, 4)), np.zeros((10, 3)), r"\(N, D\)"),
])
def test_bad_input_one_line(real, fake, match):
    with pytest.raises(DataError, match=match) as err:
        fid_from_features(real, fake)
    assert "\n" not in str(err.value)
