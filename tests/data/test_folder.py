"""folder:PATH: resizing/cropping, grey/RGB, class sub-folders, fixed split, one-line errors."""
import numpy as np
import pytest
import torch
from PIL import Image

import genzoo as gz
from genzoo.errors import DataError


def _save(path, colour, size=(30, 20), border=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.zeros((size[1], size[0], 3), dtype=np.uint8) + np.array(colour, dtype=np.uint8)
    if border is not None:  # paint the columns that a centre crop removes
        cut = (size[0] - size[1]) // 2
        arr[:, :cut], arr[:, size[0] - cut:] = border, border
    Image.fromarray(arr).save(path)


@pytest.fixture
def labelled(tmp_path):
    for i in range(6):
        _save(tmp_path / "cats" / f"c{i}.png", (200, 100, 50), border=(255, 255, 255))
        _save(tmp_path / "dogs" / f"d{i}.jpg", (10, 20, 240), size=(24, 24))
    return tmp_path


def test_labelled_folder_rgb(labelled):
    train = gz.load_dataset(f"folder:{labelled}", size=8)
    test = gz.load_dataset(f"folder:{labelled}", split="test", size=8)
    assert (len(train), len(test)) == (11, 1)
    assert train.kind == "image" and train.shape == (3, 8, 8) and train.levels == 256
    assert train.num_classes == 2 and train.info["classes"] == ["cats", "dogs"]
    assert not set(train.info["files"]) & set(test.info["files"])
    for x, y, f in zip(train.x, train.y, train.info["files"]):
        assert train.info["classes"][y] == f.split("/")[0]
        if f.startswith("cats"):  # the white border is cropped away; a flat colour stays exact
            assert torch.allclose(x, torch.tensor([200, 100, 50.0])[:, None, None].expand(3, 8, 8) / 127.5 - 1, atol=1e-6)
        else:  # JPEG: close to the colour
            assert (((x + 1) * 127.5) - torch.tensor([10, 20, 240.0])[:, None, None]).abs().max() < 8
    again = gz.load_dataset(f"folder:{labelled}", size=8)
    assert torch.equal(again.x, train.x) and again.info["files"] == train.info["files"]


def test_grey_unlabelled_folder(tmp_path):
    for i in range(20):
        _save(tmp_path / f"img{i:02d}.png", (200, 100, 50))
    train = gz.load_dataset(f"folder:{tmp_path}", channels=1)
    test = gz.load_dataset(f"folder:{tmp_path}", split="test", channels=1)
    assert train.shape == (1, 16, 16) and (len(train), len(test)) == (18, 2)
    assert train.y is None and train.num_classes is None
    grey = (200 * 299 + 100 * 587 + 50 * 114) // 1000  # Pillow's ITU-R 601-2 luma
    assert torch.allclose(train.x, torch.full_like(train.x, 2 * grey / 255 - 1))


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        gz.load_dataset(f"folder:{tmp_path / 'nope'}")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DataError, match="is not a folder"):
        gz.load_dataset(f"folder:{tmp_path / 'file.txt'}")
    with pytest.raises(DataError, match="has no images"):
        gz.load_dataset(f"folder:{tmp_path}")
    _save(tmp_path / "a.png", (1, 2, 3))
    with pytest.raises(DataError, match="only 1 image"):
        gz.load_dataset(f"folder:{tmp_path}")
    (tmp_path / "broken.png").write_text("not an image")
    with pytest.raises(DataError, match="cannot read image .*broken.png"):
        gz.load_dataset(f"folder:{tmp_path}")
    with pytest.raises(DataError, match="channels must be 1"):
        gz.load_dataset(f"folder:{tmp_path}", channels=4)
    with pytest.raises(DataError, match="size must be a positive integer"):
        gz.load_dataset(f"folder:{tmp_path}", size=0)
    with pytest.raises(DataError, match="valid splits"):
        gz.load_dataset(f"folder:{tmp_path}", split="val")
