"""Model-level sample metrics through gz.evaluate: 2-D in raw coordinates, images in classifier features."""
import pytest
import torch
from torch import nn

import genzoo as gz
from genzoo.errors import ConfigError, DataError, NotSupported
from genzoo.metrics.modes import mode_coverage


class Sampler(nn.Module):
    """A stand-in model: sample(n, generator=) draws rows of a fixed pool (counts its calls)."""

    def __init__(self, pool, scale=1.0):
        super().__init__()
        self.pool = pool
        self.scale = nn.Parameter(torch.tensor(scale))
        self.calls = 0

    def sample(self, n, *, generator=None):
        self.calls += 1
        idx = torch.randint(0, len(self.pool), (n,), generator=generator)
        return self.pool[idx] * self.scale.detach()


@pytest.fixture(scope="module")
def gaussians():
    """(pool of 4000 points, a 1000-point real set) from the 8gaussians test split: small and fast."""
    full = gz.load_dataset("8gaussians", "test")
    return full.x[1000:], gz.GenDataset("8gaussians", "test", "2d", full.x[:1000], info=full.info)


def test_2d_metrics_small_for_data_samples_and_large_for_noise(gaussians):
    train, test = gaussians
    names = ["fid", "prdc", "mmd", "energy", "modes"]
    good = gz.evaluate(None, test, metrics=names, samples=train[:2000])
    bad = gz.evaluate(None, test, metrics=names, samples=torch.randn(2000, 2))
    assert good["fid_feature_extractor"] == "2-D coordinates"
    assert good["fid"] < 0.05 < 1.0 < bad["fid"]
    assert good["precision"] > 0.95 and bad["precision"] < 0.6
    assert good["mmd"] < 0.01 < bad["mmd"] and good["energy"] < 0.02 < bad["energy"]
    assert good["modes"] == 8 and good["high_quality"] > 0.95
    assert gz.evaluate(train[:2000], test, metrics=["fid"])["fid"] == good["fid"]  # samples in the model slot


def test_mode_coverage_counts_exactly():
    modes = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    samples = torch.cat([modes[0].repeat(500, 1), modes[1].repeat(4, 1) + 0.1, torch.full((496, 2), 50.0)])
    out = mode_coverage(samples, modes, mode_std=0.1)
    # mode 1 holds 0.4% < 1% of the samples; 0.1·√2 > 3σ? no: |0.1, 0.1| = 0.141 ≤ 0.3
    assert out == {"modes": 1, "modes_total": 3, "high_quality": pytest.approx(0.504)}


def test_model_sampling_is_seeded_and_memoised(gaussians):
    train, test = gaussians
    model = Sampler(train)
    first = gz.evaluate(model, test, metrics=["fid", "kid", "prdc"], num_samples=600, kid_subsets=5, kid_subset_size=100)
    draws = model.calls
    assert draws == 2  # one batch of 500 + one of 100, shared by the three metrics
    again = gz.evaluate(model, test, metrics=["fid"], num_samples=600)
    assert again["fid"] == first["fid"] and model.calls == draws
    with torch.no_grad():
        model.scale.mul_(2.0)  # an in-place update (as an optimizer step) invalidates the memo
    changed = gz.evaluate(model, test, metrics=["fid"], num_samples=600)
    assert model.calls > draws and changed["fid"] > first["fid"]
    other_seed = gz.evaluate(Sampler(train), test, metrics=["fid"], num_samples=600, seed=1)
    assert other_seed["fid"] != first["fid"]
    twin = Sampler(train)  # another model object is always sampled, even with equal parameters
    assert gz.evaluate(twin, test, metrics=["fid"], num_samples=600, seed=1) == other_seed and twin.calls == 2


def test_digits_metrics_in_classifier_space():
    train, test = gz.load_dataset("digits", "train"), gz.load_dataset("digits", "test")
    good = gz.evaluate(None, test, metrics=["fid", "is", "prdc"], samples=train.x[:359])
    noise = gz.evaluate(None, test, metrics=["fid", "is"], samples=torch.rand(359, 1, 8, 8) * 2 - 1)
    assert good["fid_feature_extractor"] == "FID-digits"
    assert good["fid"] * 10 < noise["fid"]
    assert good["is"] > 7 > noise["is"]
    assert good["precision"] > 0.7


def test_shapes_bin_uses_shapes_extractor():
    test = gz.load_dataset("shapes-bin", "test")
    out = gz.evaluate(None, test, metrics=["fid"], samples=gz.load_dataset("shapes-bin", "train").x[:500])
    assert out["fid_feature_extractor"] == "FID-shapes" and out["fid"] >= 0


def test_raw_and_callable_feature_extractors(gaussians):
    _, test = gaussians
    test_img = gz.load_dataset("digits", "test")
    raw = gz.evaluate(None, test_img, metrics=["fid"], samples=test_img.x, feature_extractor="raw")
    assert raw["fid"] == pytest.approx(0, abs=1e-6) and raw["fid_feature_extractor"] == "raw image"
    custom = gz.evaluate(None, test, metrics=["mmd"], samples=test.x, feature_extractor=lambda x: x[:, :1])
    assert abs(custom["mmd"]) < 5e-3  # unbiased MMD² of a set against itself is -O(1/n)


def test_errors(gaussians):
    train, test = gaussians
    with pytest.raises(DataError, match="per example"):
        gz.evaluate(None, test, metrics=["fid"], samples=torch.zeros(10, 3))
    with pytest.raises(ConfigError, match="pass a model or samples"):
        gz.evaluate(None, test, metrics=["fid"])
    with pytest.raises(NotSupported, match="classifier"):
        gz.evaluate(None, test, metrics=["is"], samples=train[:100])
    with pytest.raises(ConfigError, match="no known modes"):
        gz.evaluate(None, gz.load_dataset("moons", "test"), metrics=["modes"], samples=train[:100])
    with pytest.raises(DataError, match="NaN"):
        gz.evaluate(None, test, metrics=["prdc"], samples=torch.full((100, 2), float("nan")))


def test_samples_made_under_inference_mode_are_accepted(gaussians):
    """Samples from a sampler running under torch.inference_mode (as GPT generation does) have no
    version counter: the memo is skipped and the metric equals the one on an ordinary copy."""
    train, test = gaussians
    with torch.inference_mode():
        frozen = train[:1000].clone()
    assert frozen.is_inference()
    got = gz.evaluate(None, test, metrics=["fid"], samples=frozen)["fid"]
    assert got == pytest.approx(gz.evaluate(None, test, metrics=["fid"], samples=train[:1000].clone())["fid"])
