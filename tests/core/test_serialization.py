"""Saved-model layout and its error paths: each failure is one line that names the file."""
import json

import pytest
import torch

import genzoo as gz
from genzoo.models.gaussian import GaussianConfig, GaussianMixture


@pytest.fixture
def saved(tmp_path):
    model = GaussianMixture(GaussianConfig(shape=(2,), n_components=2))
    with torch.no_grad():
        model.means.normal_()
    model.save_pretrained(tmp_path / "m")
    return model, tmp_path / "m"


def test_layout_and_round_trip(saved):
    model, path = saved
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors"]
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["model_type"] == "gaussian" and cfg["genzoo_version"] == gz.__version__
    loaded = GaussianMixture.from_pretrained(path)
    x = torch.randn(5, 2)
    assert torch.equal(loaded.log_prob(x), model.eval().log_prob(x))
    assert not list(path.parent.glob(".m.tmp-*")), "temporary directories must not be left behind"


def _error(path) -> str:
    with pytest.raises(gz.CheckpointError) as info:
        gz.load(path)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_missing_directory(tmp_path):
    assert "no such directory" in _error(tmp_path / "nope")


def test_corrupt_config(saved):
    _, path = saved
    (path / "config.json").write_text("{not json")
    assert "config.json" in _error(path) and "not valid JSON" in _error(path)


def test_truncated_weights(saved):
    _, path = saved
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])
    assert "model.safetensors" in _error(path) and "truncated" in _error(path)


def test_missing_key(saved):
    from safetensors.torch import load_file, save_file

    _, path = saved
    tensors = load_file(path / "model.safetensors")
    del tensors["means"]
    save_file(tensors, path / "model.safetensors")
    msg = _error(path)
    assert "missing weight 'means'" in msg and "model.safetensors" in msg


def test_unknown_model_type(saved):
    _, path = saved
    cfg = json.loads((path / "config.json").read_text())
    cfg["model_type"] = "nosuchmodel"
    (path / "config.json").write_text(json.dumps(cfg))
    assert "unknown model_type 'nosuchmodel'" in _error(path)


def test_version_mismatch(saved):
    _, path = saved
    cfg = json.loads((path / "config.json").read_text())
    cfg["genzoo_version"] = "7.0.0"
    (path / "config.json").write_text(json.dumps(cfg))
    assert "saved by genzoo 7.0.0" in _error(path)


def test_unknown_config_field_suggests(saved):
    _, path = saved
    cfg = json.loads((path / "config.json").read_text())
    cfg["n_component"] = 3
    (path / "config.json").write_text(json.dumps(cfg))
    assert "did you mean 'n_components'" in _error(path)


def test_wrong_family_via_class(saved, tmp_path):
    class Other(gz.GenerativeModel):
        pass

    _, path = saved
    with pytest.raises(gz.CheckpointError, match="not a Other"):
        Other.from_pretrained(path)


def test_failed_save_keeps_the_old_model(saved, monkeypatch):
    model, path = saved
    before = (path / "model.safetensors").read_bytes()

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr("genzoo.serialization.save_tensors", boom)
    with pytest.raises(RuntimeError):
        model.save_pretrained(path)
    assert (path / "model.safetensors").read_bytes() == before
