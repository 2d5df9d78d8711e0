"""A short 2-D GAN run (fixed seed) moves the generator towards the data: MMD to the target drops."""
import math

import pytest
import torch

import genzoo as gz
from genzoo.metrics.mmd import mmd
from genzoo.models.gan import GAN, GANConfig


def ring(n, gen):
    ang = torch.randint(8, (n,), generator=gen) * (2 * math.pi / 8)
    return 2.0 * torch.stack([ang.cos(), ang.sin()], 1) + 0.2 * torch.randn(n, 2, generator=gen)


@pytest.mark.slow
def test_short_training_reduces_mmd():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    data, target = ring(4096, gen), ring(1000, gen)
    model = GAN(GANConfig(shape=(2,), z_dim=4, hidden=32, depth=2, loss="ns"))
    opts = model.configure_optimizers(lr=1e-3)
    bw = (0.25, 0.5, 1.0, 2.0)
    before = mmd(model.sample(1000, generator=torch.Generator().manual_seed(1)), target, bandwidths=bw)
    model.train()
    for step in range(200):
        idx = torch.randint(len(data), (64,), generator=gen)
        model.training_step(data[idx], step, optimizers=opts)
    model.eval()
    after = mmd(model.sample(1000, generator=torch.Generator().manual_seed(1)), target, bandwidths=bw)
    assert after < 0.2 * before, (before, after)


def test_trainer_drives_the_game(tmp_path):
    data = gz.GenDataset("ring", "train", "2d", ring(512, torch.Generator().manual_seed(0)))
    model = gz.build("gan", data=data, z_dim=4, hidden=16, depth=2)
    gz.Trainer(model, data, steps=20, batch_size=64, lr=1e-3, progress=False, log_every=10).fit()
    model.save_pretrained(tmp_path / "m")
    loaded = gz.load(tmp_path / "m")
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert torch.equal(model.sample(8, generator=g()), loaded.sample(8, generator=g()))
    assert isinstance(loaded, GAN)
