"""Audio metrics: the shipped note classifier hears the labels of real notes, FAD-notes and LSD separate
real notes from wrong ones, accuracies follow the labels asked for, and the classifier's training
script is reproducible."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

import genzoo as gz
from genzoo.features.audio import load_note_classifier
from genzoo.metrics.audio_metrics import log_spectral_distance
from genzoo.metrics.fid import fid_from_features

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def notes():
    return gz.load_dataset("notes", split="test"), gz.load_dataset("notes", split="train")


def test_shipped_classifier_hears_real_notes(notes):
    test, _ = notes
    net = load_note_classifier()
    assert net.meta["pitch_accuracy"] >= 0.99 and net.meta["timbre_accuracy"] >= 0.97
    scores = gz.evaluate(test.x, test, metrics=["pitch_accuracy", "fad", "lsd"], labels=test.y)
    assert scores["pitch_accuracy"] >= 0.99 and scores["timbre_accuracy"] >= 0.97
    assert scores["fad"] == pytest.approx(0.0, abs=1e-6) and scores["fad_feature_extractor"] == "FAD-notes"


def test_metrics_separate_right_from_wrong(notes):
    test, train = notes
    floor = gz.evaluate(train.x[:512], test, metrics=["fad"], labels=train.y[:512])
    shifted = (train.y[:512] + 4) % test.num_classes  # every clip labelled one semitone off
    wrong = gz.evaluate(train.x[:512], test, metrics=["fad"], labels=shifted)
    assert wrong["pitch_accuracy"] < 0.1 and wrong["timbre_accuracy"] == floor["timbre_accuracy"]
    assert wrong["lsd"] > floor["lsd"] + 1
    noise = torch.randn(512, 1, 2000, generator=torch.Generator().manual_seed(0)) * 0.2
    bad = gz.evaluate(noise, test, metrics=["fad"], labels=train.y[:512])
    assert bad["fad"] > 20 * floor["fad"] and bad["lsd"] > floor["lsd"] + 5
    real_f = load_note_classifier()(test.x)[0]
    assert floor["fad"] == pytest.approx(fid_from_features(real_f, load_note_classifier()(train.x[:512])[0]), rel=1e-6)


def test_lsd_is_zero_for_the_class_mean_and_in_db():
    x = torch.sin(torch.arange(2000) * 0.3).expand(4, 1, 2000).clone()
    y = torch.zeros(4, dtype=torch.long)
    assert log_spectral_distance(x, y, x, y) == pytest.approx(0.0, abs=1e-4)
    assert log_spectral_distance(x * 10, y, x, y) == pytest.approx(20.0, abs=1e-3)  # x10 amplitude = +20 dB


def test_model_is_asked_for_the_real_labels(notes):
    test, _ = notes
    asked = []

    class Echo(torch.nn.Module):
        """A 'model' that returns the real clip of the label it is asked for."""
        config = type("C", (), {"num_classes": 48})()

        def sample(self, n, *, generator=None, y=None):
            asked.append(y)
            return torch.stack([test.x[(test.y == label).nonzero()[0, 0]] for label in y])

    scores = gz.evaluate(Echo(), test, metrics=["pitch_accuracy"], num_samples=70, sample_batch_size=32)
    assert torch.equal(torch.cat(asked), test.y[:70]) and scores["pitch_accuracy"] == 1.0


def test_classifier_script_is_reproducible(tmp_path):
    spec = importlib.util.spec_from_file_location("train_audio", ROOT / "scripts" / "train_audio_classifier.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    for out in ("a", "b"):
        script.train(steps=3, out=tmp_path / f"{out}.safetensors")
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    assert load_note_classifier(tmp_path / "a.safetensors").meta["steps"] == 3
