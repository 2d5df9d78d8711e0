"""PacGAN packing (Lin et al. 2018) and the batched MGAN generators."""
import pytest
import torch

import genzoo as gz
from genzoo.models.gan import GAN, GANConfig
from genzoo.models.gan_nets import pack_samples


def make(**kw):
    torch.manual_seed(0)
    return GAN(GANConfig(**{"shape": (2,), "z_dim": 4, "hidden": 16, "depth": 2, **kw}))


def test_pack_samples_concatenates_consecutive_rows():
    x = torch.arange(24.0).view(6, 2, 1, 2)  # (B, C, H, W)
    p = pack_samples(x, 3)
    assert p.shape == (2, 6, 1, 2)
    assert torch.equal(p[1], torch.cat([x[3], x[4], x[5]], 0))
    assert pack_samples(x, 1) is x


@pytest.mark.parametrize("pack", [1, 2, 4])
def test_discriminator_loss_is_d_on_packed_rows(pack):
    model = make(pack=pack)
    assert model.discriminator.body[1][0].in_features == 2 * pack
    real = torch.randn(8, 2)
    torch.manual_seed(1)
    loss, _ = model.discriminator_loss(real)
    torch.manual_seed(1)  # the same latents, by hand: D sees rows [x_{kp}, ..., x_{kp+p-1}]
    fake = model.generators[0](torch.randn(8, 4)).detach()
    by_hand = lambda x: torch.stack([torch.cat(list(x[i:i + pack])) for i in range(0, 8, pack)])  # noqa: E731
    expected = model.d_loss_fn(model.discriminator(by_hand(real))[0], model.discriminator(by_hand(fake))[0])
    assert torch.allclose(loss, expected, atol=1e-6)
    if pack == 1:  # the plain D: each sample on its own, logits of shape (B,)
        assert model.discriminator(real)[0].shape == (8,)


def test_pack_trains_with_penalties():
    for loss in ("ns", "wgan-gp"):
        model = make(pack=2, loss=loss, r1=1.0, mbstd=True)
        logs = model.training_step(torch.randn(16, 2), 0, optimizers=model.configure_optimizers(lr=1e-3))
        assert "g_loss" in logs and all(v == v for v in logs.values())


def test_pack_errors_are_one_line():
    model = make(pack=4)
    with pytest.raises(gz.ConfigError, match="divisible by 4"):
        model.training_step(torch.randn(10, 2), 0, optimizers=model.configure_optimizers(lr=1e-3))
    with pytest.raises(gz.ConfigError, match="pack"):
        make(pack=2, num_classes=3)
    with pytest.raises(gz.ConfigError, match="pack"):
        make(pack=0)


def test_pack_with_mgan_classifies_each_member():
    model = make(pack=2, n_generators=3)
    assert model.discriminator.gen_head.out_features == 6        # K logits per pack member
    logs = model.training_step(torch.randn(16, 2), 0, optimizers=model.configure_optimizers(lr=1e-3))
    assert "mgan_ce" in logs and "g_loss" in logs


def per_generator_loop(model, z, y, which):
    """The definition: each generator on its own rows."""
    out = z.new_zeros(len(z), *model.config.shape)
    for k, g in enumerate(model.generators):
        rows = which == k
        if rows.any():
            out[rows] = g(z[rows], None if y is None else y[rows])
    return out


@pytest.mark.parametrize("kw", [{}, {"num_classes": 3}, {"shape": (1, 8, 8), "channels": 4}],
                         ids=["mlp", "conditional", "dcgan"])
def test_batched_generators_equal_the_loop(kw):
    model = make(n_generators=5, **kw).double()
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(37, 4, generator=gen, dtype=torch.float64)
    which = torch.randint(0, 5, (37,), generator=gen)
    which[which == 4] = 3  # one generator gets no rows
    y = torch.randint(0, 3, (37,), generator=gen) if kw.get("num_classes") else None
    a, b = model.generate(z, y, which), per_generator_loop(model, z, y, which)
    assert torch.allclose(a, b, atol=1e-12, rtol=0)
    params = list(model.generators.parameters())
    ga = torch.autograd.grad(a.square().sum(), params, allow_unused=True)
    gb = torch.autograd.grad(b.square().sum(), params, allow_unused=True)
    for p, u, v in zip(params, ga, gb):
        if v is None:  # the idle generator
            assert u is None or u.abs().max() == 0
        else:
            assert torch.allclose(u, v, atol=1e-10, rtol=0)
