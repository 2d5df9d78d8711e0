"""``class_share``: the share of samples the shipped classifier puts in the data's classes."""
import pytest
import torch

import genzoo as gz
from genzoo.errors import ConfigError, NotSupported


def test_real_images_of_the_class_score_near_one_and_all_classes_near_a_tenth():
    threes = gz.load_dataset("digits", "test", classes=3)
    train = gz.load_dataset("digits", "train")
    own = gz.evaluate(None, threes, metrics=["class_share"], samples=train.x[train.y == 3])
    mixed = gz.evaluate(None, threes, metrics=["class_share"], samples=train.x[:500])
    assert own["class_share"] > 0.95 and own["class_share_feature_extractor"] == "digits"
    assert mixed["class_share"] == pytest.approx((train.y[:500] == 3).float().mean().item(), abs=0.03)
    assert 0.05 < mixed["class_share"] < 0.15


def test_shares_a_sampling_pass_with_fid_and_counts_several_classes():
    pair = gz.load_dataset("shapes", "test", classes="circle,ring")
    samples = gz.load_dataset("shapes", "train", classes="0,5").x[:300]
    out = gz.evaluate(samples, pair, metrics=["fid", "class_share"])
    assert out["class_share"] > 0.9 and out["fid_feature_extractor"] == "FID-shapes"


def test_needs_labels_and_a_classifier_with_the_data_classes():
    moons = gz.load_dataset("moons", "test")
    with pytest.raises(NotSupported, match="labelled"):
        gz.evaluate(None, moons, metrics=["class_share"], samples=moons.x)
    digits = gz.load_dataset("digits", "test")
    with pytest.raises(NotSupported, match="needs a classifier"):
        gz.evaluate(None, digits, metrics=["class_share"], samples=digits.x, feature_extractor="raw")
    with pytest.raises(ConfigError, match="6 classes"):
        gz.evaluate(None, digits, metrics=["class_share"], samples=digits.x[:, :, :8, :8], feature_extractor="shapes")
