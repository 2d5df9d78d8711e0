"""2-D toy sets: fixed splits, sklearn/zuko parity, exact densities that integrate to 1, true entropies."""
import math

import numpy as np
import pytest
import torch

import genzoo as gz
from genzoo.errors import ConfigError, DataError

NAMES = ["moons", "circles", "spirals", "checkerboard", "8gaussians", "25gaussians"]
DENSITY_NAMES = ["checkerboard", "8gaussians", "25gaussians"]


@pytest.mark.parametrize("name", NAMES)
def test_shapes_splits_and_determinism(name):
    train, test = gz.load_dataset(name), gz.load_dataset(name, split="test")
    assert train.kind == test.kind == "2d" and train.shape == (2,) and train.levels is None
    assert train.x.dtype == torch.float32 and len(train) == 20000 and len(test) == 5000
    assert torch.equal(gz.load_dataset(name).x, train.x)  # fixed seed
    assert not torch.equal(train.x[:5000], test.x)  # different seeds per split
    assert train.x.abs().max() < 6 and train.x.std(0).min() > 0.3


def test_moons_are_the_zuko_anchor_arrays():
    """Exactly ``make_moons(n, noise=0.05, random_state=0/1)`` as in bench/anchors/zuko_moons.py."""
    from sklearn.datasets import make_circles, make_moons

    for split, n, seed in [("train", 20000, 0), ("test", 5000, 1)]:
        ref = torch.tensor(make_moons(n, noise=0.05, random_state=seed)[0], dtype=torch.float32)
        assert torch.equal(gz.load_dataset("moons", split=split).x, ref)
        ref = torch.tensor(make_circles(n, factor=0.5, noise=0.08, random_state=seed)[0] * 3, dtype=torch.float32)
        assert torch.equal(gz.load_dataset("circles", split=split).x, ref)


def test_only_density_sets_have_a_density():
    for name in NAMES:
        data = gz.load_dataset(name)
        assert data.has_density == (name in DENSITY_NAMES)
        if name not in DENSITY_NAMES:
            with pytest.raises(gz.NotSupported):
                data.log_density(data.x[:3])


def _grid(lo, hi, h):
    t = torch.arange(lo, hi + h / 2, h, dtype=torch.float64)
    return torch.cartesian_prod(t, t), h * h


@pytest.mark.parametrize("name,h", [("8gaussians", 0.1), ("25gaussians", 0.025)])
def test_mixture_density_integrates_to_one_and_entropy_matches_grid(name, h):
    data = gz.load_dataset(name)
    x, area = _grid(-6, 6, h)  # trapezoid rule, spectrally accurate for Gaussians with h <= std/2
    logp = torch.cat([data.log_density(c) for c in x.split(1 << 18)])
    assert logp.dtype == torch.float64
    p = logp.exp()
    assert (p * area).sum().item() == pytest.approx(1.0, abs=1e-8)
    entropy = -(p * logp).nan_to_num().mul(area).sum().item()
    assert entropy == pytest.approx(data.info["entropy"], abs=1e-6)


def test_checkerboard_density_integrates_to_one():
    data = gz.load_dataset("checkerboard")
    x, area = _grid(-2.9975, 2.9975, 0.005)  # cell midpoints: exact for a density constant on unit squares
    p = data.log_density(x).exp()
    assert (p * area).sum().item() == pytest.approx(1.0, abs=1e-9)
    assert data.info["entropy"] == pytest.approx(math.log(8))
    pts = torch.tensor([[-1.5, -1.5], [-0.5, -1.5], [0.5, 0.5], [2.5, 0.0], [1.5, -0.5]])
    assert data.log_density(pts.double()).tolist() == [-math.log(8), -math.inf, -math.log(8), -math.inf, -math.log(8)]


@pytest.mark.parametrize("name", DENSITY_NAMES)
def test_sample_log_density_mean_matches_entropy(name):
    for split in ("train", "test"):
        data = gz.load_dataset(name, split=split)
        logp = data.log_density(data.x.double())
        assert torch.isfinite(logp).all()
        se = logp.std().item() / math.sqrt(len(logp))
        assert abs(-logp.mean().item() - data.info["entropy"]) < 4 * se + 1e-6


def test_mixture_log_density_equals_scipy():
    from scipy.stats import multivariate_normal

    for name in ["8gaussians", "25gaussians"]:
        data = gz.load_dataset(name)
        modes, s = np.array(data.info["modes"], dtype=np.float64), data.info["mode_std"]
        x = data.x[:50].double()
        ref = np.log(np.mean([multivariate_normal(m, s * s * np.eye(2)).pdf(x.numpy()) for m in data.density.modes.numpy()], 0))
        np.testing.assert_allclose(data.log_density(x).numpy(), ref, rtol=1e-10)
        assert np.abs(modes - data.density.modes.numpy()).max() < 1e-6


def test_mixture_definitions_and_closed_form_entropy():
    eight, twenty_five = gz.load_dataset("8gaussians"), gz.load_dataset("25gaussians")
    m = np.array(eight.info["modes"])
    np.testing.assert_allclose(np.linalg.norm(m, axis=1), 4 / 1.414, rtol=1e-6)
    assert eight.info["mode_std"] == pytest.approx(0.5 / 1.414)
    assert sorted({round(v, 4) for v in np.array(twenty_five.info["modes"]).ravel()}) == [-4, -2, 0, 2, 4]
    # separated components: h = log K + log(2 pi e s^2) - overlap, overlap 0 for 25 (40 sigma apart)
    s = 0.05
    assert twenty_five.info["entropy"] == pytest.approx(math.log(25) + math.log(2 * math.pi * math.e * s * s), abs=1e-12)
    closed = math.log(8) + math.log(2 * math.pi * math.e * (0.5 / 1.414) ** 2)
    assert 0.005 < closed - eight.info["entropy"] < 0.008
    # moments of the samples: mean 0, per-coordinate variance s^2 + r^2 / 2
    x = eight.x.double()
    assert x.mean(0).abs().max() < 0.05
    assert x.var(0).mean().item() == pytest.approx((0.5 / 1.414) ** 2 + (4 / 1.414) ** 2 / 2, rel=0.02)
    # every sample lies near its mode
    d = torch.cdist(twenty_five.x.double(), twenty_five.density.modes).min(1).values
    assert d.max() < 6 * 0.05 * 1.5


def test_density_sample_uses_generator():
    d = gz.load_dataset("8gaussians").density
    a = d.sample(10, generator=torch.Generator().manual_seed(3))
    b = d.sample(10, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == (10, 2)


def test_errors():
    with pytest.raises(DataError, match="valid splits: train, test"):
        gz.load_dataset("moons", split="validation")
    with pytest.raises(ConfigError, match="did you mean 'moons'"):
        gz.load_dataset("moon")


def test_unknown_option_is_a_one_line_error():
    with pytest.raises(ConfigError, match="dataset 'moons' has no option 'noise'; its options: \\(none\\)"):
        gz.load_dataset("moons", noise=0.1)
    with pytest.raises(ConfigError, match="has no option 'blocksize'; its options: tokenizer, block_size, vocab_size"):
        gz.load_dataset("pystdlib", blocksize=4)
    with pytest.raises(ConfigError, match="did you mean 'folder:'"):
        gz.load_dataset("fodler:/tmp")
