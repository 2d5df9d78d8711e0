"""JEM (Grathwohl et al. 2020): logits as energies, classification, class-conditional sampling, save/load."""
import math

import pytest
import torch

import genzoo as gz
from genzoo.models.ebm import EBM, EBMConfig


CENTRES = 2.0 * torch.tensor([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])


def blobs(n=256, seed=0):
    """Four well-separated labelled Gaussian blobs in 2-D at ``CENTRES`` (chance accuracy = 25%)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(4, (n,), generator=g)
    return gz.GenDataset("blobs", "train", "2d", CENTRES[y] + 0.4 * torch.randn(n, 2, generator=g), y, num_classes=4)


def tiny_jem(**kw):
    return EBM(EBMConfig(**{"objective": "jem", "num_classes": 3, "hidden": 16, "depth": 2, "sgld_steps": 2,
                            "buffer_size": 64, "sample_steps": 3, **kw}))


def test_energy_is_minus_logsumexp_of_the_logits():
    torch.manual_seed(0)
    model = tiny_jem(prior_std=2.0)
    x = torch.randn(7, 2)
    logits = model.classify(x).double()
    expected = -logits.exp().sum(1).log() + x.double().pow(2).sum(1) / (2 * 2.0 ** 2)  # written out, no logsumexp
    assert logits.shape == (7, 3)
    torch.testing.assert_close(model.energy(x).double(), expected, rtol=0, atol=1e-5)


def test_class_conditional_energy_and_probabilities():
    torch.manual_seed(0)
    model = tiny_jem(prior_std=0.0)
    x, y = torch.randn(6, 2), torch.tensor([0, 1, 2, 2, 1, 0])
    logits = model.classify(x)
    assert torch.equal(model.energy(x, y), -logits[torch.arange(6), y])
    assert torch.equal(model.energy(x, 1), -logits[:, 1])  # one label for every row
    # p(y|x) = exp(−E(x, y)) / exp(−E(x)) is the softmax of the logits
    p = (model.energy(x) - model.energy(x, y)).exp()
    torch.testing.assert_close(p, model.classify(x, probs=True)[torch.arange(6), y])
    with pytest.raises(gz.ConfigError, match="labels in 0..2"):
        model.energy(x, 3)


@pytest.fixture(scope="module")
def trained():
    """A JEM trained briefly on the blobs through the shared Trainer, with its accuracy before/after."""
    data = blobs()
    torch.manual_seed(0)
    model = gz.build("ebm", data=data, objective="jem", hidden=16, depth=2, sgld_steps=10, sgld_step_size=0.1,
                     buffer_size=128)
    assert model.config.num_classes == 4  # filled from the data
    accuracy = lambda: (model.classify(data.x).argmax(1) == data.y).float().mean().item()  # noqa: E731
    before = accuracy()
    gz.Trainer(model, data, steps=100, batch_size=64, lr=3e-3, seed=0, progress=False, ema_decay=None).fit()
    return model, before, accuracy()


def test_training_through_the_trainer_raises_accuracy_above_chance(trained):
    model, before, after = trained
    assert after > 0.95 and after > before + 0.2, (before, after)
    assert model.replay_buffer is not None and torch.isfinite(model.replay_buffer).all()


def test_class_conditional_samples_move_towards_their_class(trained):
    model, _, _ = trained
    agree, near = [], []
    for label in range(4):  # SGLD on E(x, y) = −f(x)[y] from the same uniform noise
        s = model.sample(64, generator=torch.Generator().manual_seed(0), y=label, steps=300)
        agree.append((model.classify(s).argmax(1) == label).float().mean().item())
        near.append((torch.cdist(s, CENTRES).argmin(1) == label).float().mean().item())
    # chance is 0.25 (sd 0.027 over the 256 chains); measured 0.53 and 0.54
    assert sum(agree) / 4 > 0.45 and sum(near) / 4 > 0.45, (agree, near)


def test_jem_save_load_round_trip(tmp_path):
    data = blobs(64)
    torch.manual_seed(0)
    model = gz.build("ebm", data=data, objective="jem", hidden=8, depth=1, sgld_steps=2, buffer_size=32,
                     sample_steps=4)
    opts = model.configure_optimizers(lr=1e-2)
    model.training_step((data.x[:32], data.y[:32]), 0, optimizers=opts)
    model.save_pretrained(tmp_path)
    loaded = gz.load(tmp_path)
    assert isinstance(loaded, EBM) and loaded.config.num_classes == 4 and loaded.config.objective == "jem"
    x = torch.randn(5, 2)
    assert torch.equal(loaded.classify(x), model.classify(x))
    assert torch.equal(loaded.energy(x), model.energy(x))
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    assert torch.equal(loaded.sample(4, generator=g(), y=1), model.sample(4, generator=g(), y=1))


def test_conv_jem_and_digits_options_on_images():
    torch.manual_seed(0)
    data = gz.GenDataset("img", "train", "image", torch.rand(16, 1, 8, 8) * 2 - 1, torch.arange(16) % 4, num_classes=4)
    model = gz.build("ebm", data=data, objective="jem", hidden=16, channels=4, sgld_steps=2, buffer_size=32,
                     sample_steps=3)
    assert model.config.num_classes == 4 and model.config.init_range == 1.0 and model.config.sgld_noise == 0.005
    opts = model.configure_optimizers(lr=1e-3)
    logs = model.training_step((data.x, data.y), 0, optimizers=opts)
    assert {"ce", "acc", "cd"} <= set(logs) and all(math.isfinite(v) for v in logs.values())
    g = torch.Generator().manual_seed(0)
    for kw in ({"y": torch.arange(6) % 4}, {"from_buffer": True}, {}):
        s = model.sample(6, generator=g, **kw)
        assert s.shape == (6, 1, 8, 8) and s.abs().max() <= 1  # chains clamped to the data range


def test_jem_errors():
    with pytest.raises(gz.ConfigError, match="num_classes"):
        EBM(EBMConfig(objective="jem"))
    with pytest.raises(gz.DataError, match="labels"):
        tiny_jem().loss(torch.randn(4, 2))
    plain = EBM(EBMConfig(hidden=8, depth=1))
    with pytest.raises(gz.ConfigError, match="objective=jem"):
        plain.sample(2, y=0)
    with pytest.raises(gz.NotSupported, match="classes"):
        plain.classify(torch.randn(2, 2))
    with pytest.raises(gz.NotSupported, match="buffer"):
        plain.sample(2, from_buffer=True)
