"""Every registered family resumes bit-identically under the Trainer (from its contract fixture).

A family that keeps training state outside its parameters, buffers and ``extra_state_tensors()``
(a step counter in a Python attribute, an un-checkpointed replay buffer) fails here.
"""
from __future__ import annotations

import pytest
import torch

import genzoo as gz
from genzoo.data.base import GenDataset
from genzoo.registry import MODELS
from genzoo.utils import unpack_batch


def fixture_run(name, out=None, resume=False, stop=None):
    cls = MODELS.get(name)
    torch.manual_seed(0)  # some fixtures draw their batch from the global RNG
    config, batch = cls.contract_fixture()
    x, y = unpack_batch(batch)
    kind = "text" if not x.is_floating_point() else "image" if x.ndim == 4 else "2d"
    model = cls(config)
    callbacks = [lambda tr, step, logs: tr.stop() if step == stop else None] if stop else []
    gz.Trainer(model, GenDataset("fixture", "train", kind, x, y), steps=3, batch_size=max(1, len(x) // 2),
               lr=1e-3, seed=1, out=out, checkpoint_every=1, sample_every=0, progress=False, resume=resume,
               callbacks=callbacks).fit()
    return model


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS.names())
def test_family_resumes_bit_identically(tmp_path, name):
    fixture_run(name, tmp_path, stop=2)
    resumed = fixture_run(name, tmp_path, resume=True)
    reference = fixture_run(name)
    a, b = resumed.state_dict(), reference.state_dict()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{name}: after resume {differ[:3]} differ from an uninterrupted run"
    for k, v in resumed.extra_state_tensors().items():
        assert torch.equal(v, reference.extra_state_tensors()[k]), f"{name}: extra state {k!r} differs"
