"""Tiny DP-SGD runs on the families' contract fixtures."""
from __future__ import annotations

import torch

import genzoo as gz
from genzoo.data.base import GenDataset
from genzoo.privacy import PrivacyConfig
from genzoo.registry import MODELS
from genzoo.utils import unpack_batch


def fixture(name):
    """(model, dataset) of ``name``'s contract fixture, seeded."""
    cls = MODELS.get(name)
    torch.manual_seed(0)
    config, batch = cls.contract_fixture()
    x, y = unpack_batch(batch)
    kind = "text" if not x.is_floating_point() else "image" if x.ndim == 4 else "2d"
    return cls(config), GenDataset("fixture", "train", kind, x, y)


def dp_trainer(name, privacy=None, steps=3, out=None, resume=False, stop=None, **kw):
    model, data = fixture(name)
    privacy = PrivacyConfig(noise_multiplier=1.0, delta=1e-3) if privacy is None else privacy
    callbacks = [lambda tr, step, logs: tr.stop() if step == stop else None] if stop else []
    return gz.Trainer(model, data, steps=steps, batch_size=max(1, len(data) // 2), lr=1e-3, seed=1, out=out,
                      checkpoint_every=1, sample_every=0, progress=False, resume=resume, callbacks=callbacks,
                      privacy=privacy or None, **kw)
