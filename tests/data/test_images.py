"""Image sets: layout, exact level grids, sklearn parity, fixed splits, shapes geometry."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import genzoo as gz

SPECS = {  # name: (shape, levels, num_classes, n_train, n_test)
    "digits": ((1, 8, 8), 17, 10, 1438, 359),
    "digits16": ((1, 16, 16), 17, 10, 1438, 359),
    "shapes": ((3, 16, 16), 256, 6, 6000, 1000),
    "digits-bin": ((1, 8, 8), 2, 10, 1438, 359),
    "digits16-bin": ((1, 16, 16), 2, 10, 1438, 359),
    "shapes-bin": ((1, 16, 16), 2, 6, 6000, 1000),
}


@pytest.mark.parametrize("name", SPECS)
def test_layout_and_level_grid(name):
    shape, levels, classes, n_train, n_test = SPECS[name]
    train, test = gz.load_dataset(name), gz.load_dataset(name, split="test")
    assert (len(train), len(test)) == (n_train, n_test)
    assert train.kind == "image" and train.shape == shape and train.levels == levels
    assert train.num_classes == classes and len(train.info["classes"]) == classes
    assert train.x.dtype == torch.float32 and train.y.dtype == torch.long
    assert set(train.y.unique().tolist()) == set(range(classes))
    v = (train.x + 1) * (levels - 1) / 2  # stored as 2 v / (L - 1) - 1
    assert torch.allclose(v, v.round(), atol=1e-4) and v.min() == 0 and v.max() == levels - 1
    x, y = train[3]
    assert x.shape == shape and y.dim() == 0
    assert torch.equal(gz.load_dataset(name).x, train.x)


def _sklearn_digits():
    from sklearn.datasets import load_digits

    images, target = load_digits(return_X_y=True)
    return torch.tensor(images).view(-1, 1, 8, 8), torch.tensor(target)


def test_digits_equal_sklearn_with_fixed_permutation():
    images, target = _sklearn_digits()
    perm = np.random.RandomState(0).permutation(1797)
    for split, idx in [("test", perm[:359]), ("train", perm[359:])]:
        data = gz.load_dataset("digits", split=split)
        assert torch.equal(data.x, (images[idx] / 8 - 1).float())
        assert torch.equal(data.y, target[idx])


def test_digits16_is_bilinear_upsampling_requantised():
    d8, d16 = gz.load_dataset("digits", split="test"), gz.load_dataset("digits16", split="test")
    v8 = (d8.x.double() + 1) * 8
    ref = F.interpolate(v8, size=(16, 16), mode="bilinear", align_corners=False).round() / 8 - 1
    assert torch.equal(d16.x, ref.float()) and torch.equal(d16.y, d8.y)


@pytest.mark.parametrize("name", ["digits", "digits16", "shapes"])
def test_binarised_variant_thresholds_at_half(name):
    grey, binary = gz.load_dataset(name), gz.load_dataset(name + "-bin")
    assert set(binary.x.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(binary.x == 1, grey.x.amax(1, keepdim=True) >= 0)
    assert torch.equal(binary.y, grey.y)
    if name.startswith("digits"):  # grey level v >= 8 of 16
        v = ((grey.x + 1) * 8).round()
        assert torch.equal(binary.x == 1, v >= 8)


def test_shapes_geometry_matches_class():
    """Mean number of 'on' pixels per class = area coefficient * E[r^2], r ~ U(3, 6.5)."""
    data = gz.load_dataset("shapes-bin")
    er2 = (6.5**3 - 3**3) / (3 * 3.5)
    coef = {"circle": math.pi, "square": 1.6**2, "triangle": 0.5 * 1.9 * 1.8,
            "cross": 2 * 0.6 * 2 - 0.6**2, "diamond": 2.0, "ring": math.pi * (1 - 0.55**2)}
    on = (data.x == 1).flatten(1).sum(1).float()
    for k, name in enumerate(data.info["classes"]):
        assert on[data.y == k].mean().item() == pytest.approx(coef[name] * er2, rel=0.08), name


def test_shapes_colours_and_background():
    data = gz.load_dataset("shapes", split="test")
    v = ((data.x + 1) * 127.5).round()
    corner_max = v[:, :, 0, 0].amax(1)  # background, unless the shape covers the corner
    assert (corner_max <= 31).float().mean() > 0.9
    brightest = v.flatten(2).amax(2).amax(1)
    assert brightest.min() >= 0.75 * 255 * 0.5 and brightest.median() >= 0.75 * 255
    assert not torch.equal(data.x, gz.load_dataset("shapes").x[:1000])
