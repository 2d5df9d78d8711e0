"""The shipped feature extractors: small, accurate, loadable, and reproducible from the script."""
import importlib.util
from pathlib import Path

import pytest
import torch

import genzoo as gz
from genzoo.errors import CheckpointError
from genzoo.features import extractor_name_for, load_extractor
from genzoo.features.classifier import WEIGHTS_DIR

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name, dataset, min_acc", [("digits", "digits16", 0.97), ("shapes", "shapes", 0.97)])
def test_shipped_weights_small_and_accurate(name, dataset, min_acc):
    path = WEIGHTS_DIR / f"{name}.safetensors"
    assert path.stat().st_size < 2**20
    net = load_extractor(name)
    test = gz.load_dataset(dataset, "test")
    with torch.no_grad():
        feats, logits = net(test.x)
    assert feats.shape == (len(test), net.num_features) and net.label == name
    assert (logits.argmax(1) == test.y).float().mean() >= min_acc


def test_digits_8x8_are_upsampled_like_digits16():
    net = load_extractor("digits")
    small, big = gz.load_dataset("digits", "test"), gz.load_dataset("digits16", "test")
    with torch.no_grad():
        acc = (net(small.x)[1].argmax(1) == small.y).float().mean()
        # digits16 is the bilinear upsampling re-quantised to 17 levels: features nearly agree
        gap = (net.features(small.x) - net.features(big.x)).norm(dim=1).mean() / net.features(big.x).norm(dim=1).mean()
    assert acc >= 0.95 and gap < 0.1


def test_dataset_to_extractor_names_and_missing_weights(tmp_path):
    assert [extractor_name_for(n) for n in ("digits", "digits16-bin", "shapes-bin", "moons")] == ["digits", "digits", "shapes", None]
    with pytest.raises(CheckpointError, match="retrain"):
        load_extractor(tmp_path / "nope.safetensors")


def test_training_script_is_reproducible(tmp_path):
    spec = importlib.util.spec_from_file_location("train_fx", ROOT / "scripts" / "train_feature_extractor.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.SETS["tiny"] = "digits16"
    try:
        for out in ("a", "b"):
            script.train("tiny", epochs=1, out=tmp_path / out, steps=4)
    finally:
        del script.SETS["tiny"]
    assert (tmp_path / "a" / "tiny.safetensors").read_bytes() == (tmp_path / "b" / "tiny.safetensors").read_bytes()
    assert load_extractor(tmp_path / "a" / "tiny.safetensors").meta["epochs"] == 1


@pytest.mark.slow
def test_inception_from_user_file(tmp_path):
    """The FID Inception-v3 layout (torchvision names, 1008 classes, no aux head) loads from .pth
    (weights_only) and .safetensors; random weights here, the real file is the user's."""
    from safetensors.torch import save_file

    from genzoo.features import FIDInceptionV3, load_feature_extractor

    torch.manual_seed(0)
    net = FIDInceptionV3().eval()
    assert sum(p.numel() for p in net.parameters()) == 23_850_960  # torchvision inception_v3 - aux + 1008-way fc
    torch.save(net.state_dict(), tmp_path / "pt_inception.pth")
    save_file(net.state_dict(), str(tmp_path / "inception.safetensors"))
    data = gz.load_dataset("digits", "test")
    small = gz.GenDataset("digits", "test", "image", data.x[:2], levels=17)
    out = gz.evaluate(None, small, metrics=["fid"], samples=data.x[2:4], feature_extractor=str(tmp_path / "pt_inception.pth"))
    assert out["fid_feature_extractor"] == "FID" and out["fid"] > 0
    loaded = load_feature_extractor(tmp_path / "inception.safetensors")
    assert isinstance(loaded, FIDInceptionV3)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in net.state_dict().items())
    torch.save({"fc.weight": torch.zeros(3)}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="not a pytorch-fid"):
        load_feature_extractor(f"inception:{tmp_path / 'bad.pth'}")
