"""``classes=``: keep some classes of a labelled image set (``--data-arg classes=3``)."""
import pytest
import torch

import genzoo as gz
from genzoo.errors import ConfigError
from genzoo.features import extractor_name_for


@pytest.mark.parametrize("name", ["digits", "digits16-bin", "shapes"])
def test_keeps_only_the_named_classes_with_their_original_ids(name):
    full = gz.load_dataset(name, "test")
    kept = gz.load_dataset(name, "test", classes="3,5")
    mask = (full.y == 3) | (full.y == 5)
    assert torch.equal(kept.x, full.x[mask]) and torch.equal(kept.y, full.y[mask])
    assert kept.name == f"{name}[3,5]" and kept.info["classes_kept"] == [3, 5]
    assert kept.num_classes == full.num_classes and kept.levels == full.levels
    assert extractor_name_for(kept.name) == extractor_name_for(name)


def test_int_names_and_the_bracket_name_load_the_same_set():
    one = gz.load_dataset("digits", classes=3)  # the CLI passes "3" as 3
    assert set(one.y.tolist()) == {3}
    assert torch.equal(gz.load_dataset(one.name).x, one.x)
    assert gz.load_dataset("shapes", "test", classes="ring").info["classes_kept"] == [5]
    assert gz.load_dataset("digits", classes="all").name == "digits"


@pytest.mark.parametrize("spec, match", [(10, "valid classes: 0, 1, 2"), ("x", "unknown class 'x'"), (",", "is empty")])
def test_unknown_class_is_a_one_line_error(spec, match):
    with pytest.raises(ConfigError, match=match) as e:
        gz.load_dataset("digits", classes=spec)
    assert "\n" not in str(e.value)


def test_shapes_error_lists_names_and_sets_without_labels_refuse():
    with pytest.raises(ConfigError, match=r"0 \(circle\)"):
        gz.load_dataset("shapes", classes="star")
    with pytest.raises(ConfigError, match="no option 'classes'"):
        gz.load_dataset("moons", classes="1")
    with pytest.raises(ConfigError, match="already keeps"):
        gz.load_dataset("digits[3]", classes="5")
