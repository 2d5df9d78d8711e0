"""Captioned sets: captions name the drawn attributes, held-out pairs stay out of train, tokens round-trip."""
import pytest
import torch

import genzoo as gz
from genzoo.data.captions import HELD_OUT, held_out_mask
from genzoo.data.shapes import ATTRIBUTES, CLASSES, COLOURS, caption, make_attributed_shapes, make_shapes
from genzoo.errors import ConfigError


def test_shapes_captions_layout_and_held_out_split():
    train, test = gz.load_dataset("shapes-captions"), gz.load_dataset("shapes-captions", "test")
    assert (len(train), len(test)) == (6000, 1000) and train.shape == (3, 16, 16) and train.kind == "image"
    assert train.y.shape == (6000, 16) and train.y.dtype == torch.long
    attrs = train.info["attributes"]
    assert train.info["captions"][0] == caption(*attrs[0].tolist())
    assert not held_out_mask(attrs).any(), "held-out (shape, colour) pairs must not be in train"
    assert set(attrs[:, 0].tolist()) == set(range(6)) and set(attrs[:, 1].tolist()) == set(range(6))
    assert 100 < int(test.info["held_out"].sum()) < 300  # ~1/6 of test
    assert torch.equal(gz.load_dataset("shapes-captions").x, train.x)


def test_caption_words_and_tokens():
    assert caption(0, 0, 0, 0) == "a small red circle at the top left"
    assert caption(1, 4, 1, 4) == "a large blue square in the centre"
    train = gz.load_dataset("shapes-captions")
    from genzoo.features.text_tokens import _tokenizer

    assert _tokenizer().decode(train.y[0].tolist()) == train.info["captions"][0]
    digits = gz.load_dataset("digits-captions", "test")
    assert digits.shape == (1, 8, 8) and digits.info["captions"][0].startswith("a handwritten ")
    assert digits.info["captions"][0].split()[-1] == ["zero", "one", "two", "three", "four", "five", "six", "seven",
                                                       "eight", "nine"][int(digits.info["labels"][0])]


def test_drawn_attributes_match_the_caption():
    """The brightest pixel's hue is the named colour; the centre of mass lies in the named place."""
    v, attrs = make_attributed_shapes(300, seed=5)
    x = v.float() / 255
    w = x.amax(1)  # (N, H, W) brightness
    flat = x.flatten(2)
    idx = w.flatten(1).argmax(1)
    rgb = flat[torch.arange(len(x)), :, idx]
    hue = torch.atan2(3 ** 0.5 * (rgb[:, 1] - rgb[:, 2]), 2 * rgb[:, 0] - rgb[:, 1] - rgb[:, 2]) / (2 * torch.pi) % 1
    named = attrs[:, 1].float() / len(COLOURS)
    gap = torch.minimum((hue - named).abs(), 1 - (hue - named).abs())
    assert (gap < 0.06).float().mean() > 0.97
    mass = (w > 0.5).float()
    cy = (mass.sum(2) * torch.arange(16)).sum(1) / mass.sum((1, 2))
    cx = (mass.sum(1) * torch.arange(16)).sum(1) / mass.sum((1, 2))
    corners = attrs[:, 3] < 4
    top = torch.isin(attrs[:, 3], torch.tensor([0, 1]))
    left = torch.isin(attrs[:, 3], torch.tensor([0, 2]))
    assert ((cy[corners] < 7.5) == top[corners]).float().mean() > 0.97
    assert ((cx[corners] < 7.5) == left[corners]).float().mean() > 0.97
    assert list(ATTRIBUTES) == ["shape", "colour", "size", "position"] and ATTRIBUTES["shape"] == CLASSES


def test_exclusion_and_plain_shapes_are_unchanged():
    _, attrs = make_attributed_shapes(2000, seed=3, exclude=HELD_OUT)
    assert not held_out_mask(attrs).any()
    a, _ = make_shapes(8, seed=0)
    assert a.shape == (8, 3, 16, 16) and a.dtype == torch.uint8


def test_shipped_attribute_classifier_reads_real_shapes():
    from genzoo.features.attributes import attribute_accuracy

    test = gz.load_dataset("shapes-captions", "test")
    acc = attribute_accuracy(test.x, test.info["attributes"])
    assert min(acc[k] for k in ATTRIBUTES) > 0.95, acc
    held = test.info["held_out"]
    assert attribute_accuracy(test.x[held], test.info["attributes"][held])["all"] > 0.9


def test_over_long_prompts_are_truncated_with_a_warning():
    from genzoo.features.text_tokens import tokenize

    with pytest.warns(UserWarning, match="truncated to the text encoder's limit of 8 tokens"):
        ids = tokenize(["a red circle " * 10, "a red circle"], 8)
    assert ids.shape == (2, 8) and ids[0, -1] == 102 and ids[1, -1] == 0  # [SEP] kept, short one padded
    with pytest.raises(ConfigError, match="caption_length"):
        tokenize(["x"], 1)


def test_caption_attributes_inverts_caption_and_names_a_bad_caption():
    from genzoo.data.captions import EXAMPLE_PROMPTS, caption_attributes

    for attrs in [(0, 0, 0, 0), (5, 5, 1, 4), (2, 3, 1, 0)]:
        assert caption_attributes(caption(*attrs)) == attrs
    assert held_out_mask(torch.tensor([caption_attributes(p) for p in EXAMPLE_PROMPTS])).tolist() == [True] + [False] * 5 + [True] * 2
    with pytest.raises(ConfigError, match="not a shapes-captions caption"):
        caption_attributes("a purple circle")
