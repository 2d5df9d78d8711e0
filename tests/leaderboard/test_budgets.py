"""The leaderboard's budget tables name real families, data kinds and config fields."""
import dataclasses

import pytest

import genzoo as gz
from genzoo.leaderboard.budgets import BATCH_SIZE, EVAL_OVERRIDES, STEPS
from genzoo.leaderboard.runner import KIND_ORDER
from genzoo.registry import MODELS


def test_every_budget_row_is_a_registered_family_and_a_supported_kind():
    for table in (STEPS, BATCH_SIZE, EVAL_OVERRIDES):
        for family, per_kind in table.items():
            cls = MODELS.get(family)
            for kind in per_kind:
                assert kind in cls.data_kinds, f"{family} has a budget for {kind!r} but supports {cls.data_kinds}"


@pytest.mark.parametrize("family", sorted(EVAL_OVERRIDES))
def test_eval_overrides_set_existing_config_fields(family):
    """A misspelt field would be set on the config object and silently do nothing."""
    fields = {f.name for f in dataclasses.fields(MODELS.get(family).config_class)}
    for kind, overrides in EVAL_OVERRIDES[family].items():
        missing = set(overrides) - fields
        assert not missing, f"EVAL_OVERRIDES[{family!r}][{kind!r}] names no config field {missing}"


def test_costliest_kinds_are_scheduled_first():
    assert sorted(KIND_ORDER, key=KIND_ORDER.get) == ["text", "image", "2d"]
    assert {gz.load_dataset(name, split="test").kind for name in ("moons", "digits")} <= set(KIND_ORDER)
