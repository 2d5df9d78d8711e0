import math

import pytest
import torch
from torchmetrics.image.inception import InceptionScore
from torchmetrics.image.kid import KernelInceptionDistance

from genzoo.errors import DataError
from genzoo.metrics import inception_score, kid_from_features



def test_kid_matches_torchmetrics_same_subsets(correlated, flat):
    f1, f2 = (torch.from_numpy(f) for f in correlated(n=300, d=16))
    metric = KernelInceptionDistance(feature=flat(16), subsets=7, subset_size=50)
    metric.update(f1, real=True)
    metric.update(f2, real=False)
    torch.manual_seed(123)  # torchmetrics draws its subsets from the global RNG
    ref_mean, ref_std = metric.compute()
    mean, std = kid_from_features(f1, f2, subsets=7, subset_size=50, generator=torch.Generator().manual_seed(123))
    assert mean == pytest.approx(ref_mean.item(), rel=1e-9)
    assert std == pytest.approx(ref_std.item(), rel=1e-9)


def test_kid_near_zero_for_same_distribution_and_positive_for_shift():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(1000, 8, generator=g), torch.randn(1000, 8, generator=g)
    same, _ = kid_from_features(x, y, subsets=10, subset_size=300, generator=g)
    shifted, _ = kid_from_features(x, y + 0.5, subsets=10, subset_size=300, generator=g)
    assert abs(same) < 2e-3 and shifted > 20 * abs(same) + 1e-2


def test_kid_subset_too_large():
    with pytest.raises(DataError, match="subset_size"):
        kid_from_features(torch.zeros(10, 2), torch.zeros(20, 2), subset_size=11)


def test_inception_score_matches_torchmetrics(flat):
    logits = torch.randn(200, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3
    metric = InceptionScore(feature=flat(7), splits=4)
    metric.update(logits)
    torch.manual_seed(5)
    ref_mean, ref_std = metric.compute()
    mean, std = inception_score(logits, splits=4, generator=torch.Generator().manual_seed(5))
    assert (mean, std) == pytest.approx((ref_mean.item(), ref_std.item()), rel=1e-9)


def test_inception_score_limits():
    # uniform predictions -> IS = 1; confident and balanced over C classes -> IS = C
    assert inception_score(torch.zeros(100, 5), splits=2)[0] == pytest.approx(1.0)
    confident = torch.eye(5).repeat(20, 1) * 1e3
    assert inception_score(confident, splits=2)[0] == pytest.approx(5.0, rel=1e-6)
    assert math.isclose(inception_score(confident, splits=1)[1], 0.0)
