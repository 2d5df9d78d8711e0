import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Small matrices: one thread avoids OpenMP oversubscription on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Flat(torch.nn.Module):
    """Identity 'feature extractor' so torchmetrics sees our features unchanged."""

    def __init__(self, d: int):
        super().__init__()
        self.num_features = d

    def forward(self, x):
        return x.reshape(len(x), -1)


@pytest.fixture
def flat():
    return Flat


@pytest.fixture
def correlated():
    """Two correlated Gaussian feature sets (N, D) with shifted means, float64 numpy."""
    def make(n=600, d=32, shift=0.1, seed=0):
        rng = np.random.default_rng(seed)
        a = rng.standard_normal((d, d)) / np.sqrt(d)
        return rng.standard_normal((n, d)) @ a, rng.standard_normal((n + 17, d)) @ a * 1.2 + shift
    return make
