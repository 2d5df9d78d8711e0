"""The shared contract suite: runs on EVERY registered model family automatically.

A family joins by registering itself and defining ``contract_fixture()``.
"""
from __future__ import annotations

import math
import sys

import pytest
import torch

import genzoo as gz
from genzoo.registry import MODELS
from genzoo.utils import unpack_batch

FAMILIES = MODELS.names()


def make(name):
    cls = MODELS.get(name)
    config, batch = cls.contract_fixture()
    torch.manual_seed(0)
    return cls(config), batch


def test_every_family_is_registered_with_a_fixture():
    assert "gaussian" in FAMILIES
    for name in FAMILIES:
        cls = MODELS.get(name)
        assert cls.model_type == name
        assert cls.log_prob_kind in ("exact", "bound", "estimate", "none")
        assert cls.data_kinds, f"{name} declares no data_kinds"
        assert sys.modules[cls.__module__].__doc__, f"{name}: the model file needs a docstring with its equations"


@pytest.mark.parametrize("name", FAMILIES)
def test_sample_shape_and_seed(name):
    model, batch = make(name)
    x, _ = unpack_batch(batch)
    model.eval()
    a = model.sample(3, generator=torch.Generator().manual_seed(1))
    b = model.sample(3, generator=torch.Generator().manual_seed(1))
    c = model.sample(3, generator=torch.Generator().manual_seed(2))
    assert a.shape == (3, *x.shape[1:])
    assert a.dtype == x.dtype
    assert torch.equal(a, b), "same seed must give the same samples"
    assert not torch.equal(a, c), "different seeds must give different samples"


@pytest.mark.parametrize("name", FAMILIES)
def test_log_prob_per_example(name):
    model, batch = make(name)
    x, _ = unpack_batch(batch)
    model.eval()
    if model.log_prob_kind == "none":
        with pytest.raises(gz.NotSupported):
            model.log_prob(x)
        return
    with torch.no_grad():
        lp = model.log_prob(x)
    assert lp.shape == (len(x),)
    assert torch.isfinite(lp).all()


@pytest.mark.parametrize("name", FAMILIES)
def test_save_load_round_trip(name, tmp_path):
    model, batch = make(name)
    x, _ = unpack_batch(batch)
    model.eval()
    model.save_pretrained(tmp_path / "m")
    loaded = gz.load(tmp_path / "m")
    assert type(loaded) is type(model)
    assert loaded.config == model.config
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), k
    s1 = model.sample(2, generator=torch.Generator().manual_seed(3))
    s2 = loaded.sample(2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(s1, s2)
    if model.log_prob_kind in ("exact",):
        with torch.no_grad():
            assert torch.allclose(model.log_prob(x), loaded.log_prob(x))


@pytest.mark.parametrize("name", FAMILIES)
def test_optimisation_lowers_the_loss(name):
    model, batch = make(name)
    model.train()
    if model.manual_optimization:
        opts = model.configure_optimizers(lr=1e-3)
        before = [p.detach().clone() for p in model.parameters()]
        for step in range(3):
            logs = model.training_step(batch, step, optimizers=opts)
            assert all(math.isfinite(float(v)) for v in logs.values()), logs
        assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
        return

    def eval_loss():
        torch.manual_seed(123)  # same loss noise before and after
        return sum(model.loss(batch)["loss"].item() for _ in range(4)) / 4

    model.loss(batch)  # data-dependent initialisation, if any
    start = eval_loss()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(30):
        opt.zero_grad()
        model.loss(batch)["loss"].backward()
        opt.step()
    assert eval_loss() < start
