"""moving-digits / moving-shapes: deterministic clips whose motion matches their labels; bad lengths fail in one line."""
from __future__ import annotations

import pytest
import torch

import genzoo as gz
from genzoo.data.video import DIRECTIONS, STEPS, bounce_path, check_clips
from genzoo.errors import DataError


def centres(x: torch.Tensor) -> torch.Tensor:
    """Brightness-weighted centre (x, y) of each frame of one-channel clips (N, T, 1, H, W) -> (N, T, 2)."""
    w = x[:, :, 0] + 1
    idx = torch.arange(x.shape[-1], dtype=torch.float32)
    total = w.sum((2, 3))
    return torch.stack([(w.sum(2) * idx).sum(-1) / total, (w.sum(3) * idx).sum(-1) / total], -1)


def test_moving_digits_shape_labels_and_determinism():
    train = gz.load_dataset("moving-digits")
    assert train.kind == "video" and train.shape == (12, 1, 16, 16) and len(train) == 6000
    assert train.num_classes == len(DIRECTIONS) == 8 and train.levels == 17
    assert set(train.y.unique().tolist()) == set(range(8)) and set(train.speed.unique().tolist()) == {1, 2}
    assert set(train.content.unique().tolist()) == set(range(10))
    assert train.x.min() == -1 and train.x.max() == 1
    again = gz.load_dataset("moving-digits")
    assert torch.equal(train.x, again.x) and torch.equal(train.y, again.y)
    test = gz.load_dataset("moving-digits", "test", frames=8)
    assert test.shape == (8, 1, 16, 16) and len(test) == 1000 and not torch.equal(test.x[:5], train.x[:5, :8])


def test_first_step_shows_the_labelled_direction_and_speed():
    d = gz.load_dataset("moving-digits", "test")
    c = centres(d.x)
    expected = (STEPS[d.y] * d.speed[:, None]).float()
    assert torch.allclose(c[:, 1] - c[:, 0], expected, atol=1e-4)   # the digit is pasted whole: exact shifts


def test_sprites_stay_on_the_canvas_and_keep_their_brightness():
    d = gz.load_dataset("moving-digits", "test")
    mass = (d.x + 1).sum((2, 3, 4))
    assert torch.allclose(mass, mass[:, :1].expand_as(mass))          # never clipped by a border


def test_bounce_reflects_off_the_borders():
    path = bounce_path(torch.tensor([[6.0, 0.0]]), torch.tensor([[2.0, -1.0]]), 5, 0, 8)
    assert path[0, :, 0].tolist() == [6, 8, 6, 4, 2] and path[0, :, 1].tolist() == [0, 1, 2, 3, 4]


def test_moving_shapes():
    d = gz.load_dataset("moving-shapes", "test", frames=8)
    assert d.shape == (8, 3, 16, 16) and d.levels == 256 and set(d.content.unique().tolist()) == set(range(6))
    assert d.info["content_classes"][0] == "circle"


@pytest.mark.parametrize("frames", [4, 17, "many"])
def test_wrong_frame_count_is_a_one_line_error(frames):
    with pytest.raises(DataError, match="frames") as info:
        gz.load_dataset("moving-digits", frames=frames)
    assert "\n" not in str(info.value)


def test_check_clips():
    with pytest.raises(DataError, match=r"shape \(N, frames, C, H, W\)"):
        check_clips(torch.zeros(2, 1, 16, 16))
    with pytest.raises(DataError, match="have 8 frames but 4 are needed"):
        check_clips(torch.zeros(2, 8, 1, 16, 16), 4)
