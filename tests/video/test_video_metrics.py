"""Video metrics: FVD-moving sees temporal order, direction accuracy and prediction are judged by the shipped
clip classifier, frame consistency by the shipped frame classifier; wrong inputs fail in one line."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

import genzoo as gz
from genzoo.errors import ConfigError, NotSupported
from genzoo.features import load_feature_extractor
from genzoo.features.classifier import WEIGHTS_DIR


@pytest.fixture(scope="module")
def sets():
    return gz.load_dataset("moving-digits", "train"), gz.load_dataset("moving-digits", "test")


class Stub(torch.nn.Module):
    """A 'model' that returns real clips: with the asked direction (shifted by ``offset``), or the true continuation."""

    def __init__(self, data, offset=0, num_classes=8, context_frames=0):
        super().__init__()
        self.data, self.offset = data, offset
        self.config = SimpleNamespace(num_classes=num_classes, context_frames=context_frames)
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def sample(self, n, *, generator=None, class_labels=None, guidance_scale=None, context=None):
        if context is not None:   # oracle: the real clip whose first frames are the context
            k = context.shape[1]
            match = (self.data.x[:, :k].flatten(1)[None] == context.flatten(1)[:, None]).all(-1).float().argmax(1)
            return self.data.x[match]
        want = (torch.as_tensor(class_labels) + self.offset) % 8
        pools = [torch.nonzero(self.data.y == d).squeeze(1) for d in range(8)]
        picks = torch.stack([pools[int(d)][torch.randint(len(pools[int(d)]), (), generator=generator)] for d in want])
        return self.data.x[picks]


def test_shipped_classifiers_are_accurate():
    from safetensors import safe_open

    with safe_open(str(WEIGHTS_DIR / "moving-digits.safetensors"), "pt") as f:
        meta = json.loads(f.metadata()["genzoo_extractor"])
    assert meta["test_direction_accuracy"] >= 0.97
    with safe_open(str(WEIGHTS_DIR / "moving-digits-frames.safetensors"), "pt") as f:
        assert json.loads(f.metadata()["genzoo_extractor"])["test_accuracy"] >= 0.85
    net = load_feature_extractor("moving-digits")
    feats, logits = net(torch.zeros(2, 8, 1, 16, 16))       # any length 8..16: 4 time bins
    assert feats.shape == (2, 64) and logits.shape == (2, 8)


def test_fvd_sees_temporal_order(sets):
    train, test = sets
    real = gz.evaluate(train.x[:200], test, metrics=["fvd"])
    shuffled = gz.evaluate(train.x[:200][:, torch.randperm(12, generator=torch.Generator().manual_seed(0))], test,
                           metrics=["fvd"])
    assert real["fvd_feature_extractor"] == "FVD-moving (moving-digits)"
    assert 3 * real["fvd"] < shuffled["fvd"]


def test_direction_accuracy_of_a_model(sets):
    train, test = sets
    right = gz.evaluate(Stub(train), test, metrics=["direction_accuracy"], num_samples=64)
    wrong = gz.evaluate(Stub(train, offset=4), test, metrics=["direction_accuracy"], num_samples=64)
    assert right["direction_accuracy"] > 0.95 and wrong["direction_accuracy"] < 0.1
    assert right["direction_accuracy_real"] > 0.95
    with pytest.raises(NotSupported, match="label-conditional"):
        gz.evaluate(test.x[:8], test, metrics=["direction_accuracy"])


def test_prediction_of_an_oracle(sets):
    _, test = sets
    out = gz.evaluate(Stub(test, num_classes=None, context_frames=4), test, metrics=["prediction"], num_samples=48)
    assert out["prediction_mse"] == 0 and out["prediction_mse_static"] > 0.05
    assert out["prediction_direction_accuracy"] > 0.95 and out["prediction_frames"] == 8
    with pytest.raises(NotSupported, match="context frames"):
        gz.evaluate(Stub(test), test, metrics=["prediction"], num_samples=8)


def test_frame_consistency_drops_when_the_digit_changes(sets):
    train, test = sets
    clips = train.x[:128]
    mixed = clips.clone()
    mixed[:, 6:] = train.x[128:256, 6:]
    a = gz.evaluate(clips, test, metrics=["frame_consistency"])
    b = gz.evaluate(mixed, test, metrics=["frame_consistency"])
    assert a["identity_consistency"] > 0.6 and b["identity_consistency"] < a["identity_consistency"] - 0.3
    assert b["frame_consistency"] < a["frame_consistency"]


def test_video_metrics_reject_other_data():
    digits = gz.load_dataset("digits", "test")
    with pytest.raises(ConfigError, match="metric of video clips"):
        gz.evaluate(digits.x[:4], digits, metrics=["fvd"])
