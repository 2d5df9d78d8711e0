"""GAN family: spectral norm, unrolled D, mitigations, architectures, the game's bookkeeping."""
import copy
import math

import pytest
import torch
from torch import nn

import genzoo as gz
from genzoo.models.gan import GAN, GANConfig
from genzoo.models.gan_mitigations import diff_augment, mode_coverage, mode_seeking_loss
from genzoo.models.gan_nets import MinibatchDiscrimination, MinibatchStdDev, PairwiseL1


def make(**kw):
    torch.manual_seed(0)
    return GAN(GANConfig(**{"shape": (2,), "z_dim": 4, "hidden": 16, "depth": 2, **kw}))


def test_log_prob_not_supported():
    with pytest.raises(gz.NotSupported, match="sample-based"):
        make().log_prob(torch.zeros(3, 2))


def test_unknown_loss_is_a_config_error():
    with pytest.raises(gz.ConfigError, match="hinge"):
        make(loss="nope")


@pytest.mark.parametrize("arch,shape", [("mlp", (2,)), ("dcgan", (1, 16, 16))])
def test_spectral_norm_top_singular_value_is_one(arch, shape):
    model = make(arch=arch, shape=shape, channels=8, spectral_norm=True)
    model.train()
    for _ in range(20):  # power iteration converges over forward passes
        model.discriminator(torch.randn(4, *shape))
    model.eval()
    layers = [m for m in model.discriminator.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert len(layers) >= 3
    for m in layers:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
        assert abs(sigma.item() - 1) < 1e-2, (m, sigma)


def test_unrolled_update_leaves_real_discriminator_untouched():
    model = make(unrolled=3, unroll_lr=0.5, spectral_norm=True)
    before = copy.deepcopy(model.discriminator.state_dict())
    x = torch.randn(32, 2)
    loss, _ = model.generator_loss(32, None, x)
    loss.backward()
    after = model.discriminator.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "the unrolled steps wrote into D"
    assert all(p.grad is not None for p in model.generators.parameters())


def test_one_unrolled_step_equals_an_sgd_step():
    from genzoo.models.gan_mitigations import unrolled_discriminator_state

    model = make()
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    objective = lambda call: model.d_loss_fn(call(real)[0], call(fake)[0])  # noqa: E731
    state = unrolled_discriminator_state(model.discriminator, objective, steps=1, lr=0.1, create_graph=False)
    d = copy.deepcopy(model.discriminator)
    opt = torch.optim.SGD(d.parameters(), lr=0.1)
    objective(d).backward()
    opt.step()
    for k, p in d.named_parameters():
        assert torch.allclose(state[k], p, atol=1e-6), k


def test_unrolled_generator_gradient_differs_from_plain():
    x = torch.randn(32, 2)
    grads = []
    for k in (0, 2):
        model = make(unrolled=k, unroll_lr=1.0)
        torch.manual_seed(1)
        model.generator_loss(32, None, x)[0].backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.generators.parameters()]))
    assert not torch.allclose(grads[0], grads[1])


def test_n_critic_and_two_time_scales():
    model = make(n_critic=2, lr_d_mult=4.0)
    opt_g, opt_d = model.configure_optimizers(lr=1e-3)
    assert opt_d.param_groups[0]["lr"] == pytest.approx(4e-3) and opt_g.param_groups[0]["betas"] == (0.5, 0.999)
    x = torch.randn(16, 2)
    g0 = [p.detach().clone() for p in model.generators.parameters()]
    logs = model.training_step(x, 1, optimizers=[opt_g, opt_d])  # step 1: D only
    assert "g_loss" not in logs and all(torch.equal(a, b) for a, b in zip(g0, model.generators.parameters()))
    logs = model.training_step(x, 2, optimizers=[opt_g, opt_d])
    assert "g_loss" in logs and not all(torch.equal(a, b) for a, b in zip(g0, model.generators.parameters()))


@pytest.mark.parametrize("loss", ["minimax", "ns", "hinge", "lsgan", "wgan-gp"])
def test_every_loss_and_switch_trains_finitely(loss):
    model = make(loss=loss, r1=1.0, mbstd=True, minibatch_disc=4, mode_seeking=1.0, n_generators=3, unrolled=1)
    opts = model.configure_optimizers(lr=1e-3)
    for step in range(2):
        logs = model.training_step(torch.randn(16, 2), step, optimizers=opts)
        assert all(math.isfinite(v) for v in logs.values()), logs


def test_multi_generator_routes_rows():
    model = make(n_generators=3).eval()
    z = torch.randn(9, 4)
    which = torch.tensor([0, 1, 2] * 3)
    out = model.generate(z, None, which)
    for k in range(3):
        assert torch.allclose(out[which == k], model.generators[k](z[which == k]))
    _, gen_logits = model.discriminator(out)
    assert gen_logits.shape == (9, 3)


def test_conditional_dcgan_with_projection_and_diffaug():
    model = make(shape=(3, 16, 16), channels=8, num_classes=5, diffaug="color,translation,cutout", mbstd=True)
    x, y = torch.rand(8, 3, 16, 16) * 2 - 1, torch.arange(8) % 5
    opts = model.configure_optimizers(lr=1e-3)
    logs = model.training_step((x, y), 0, optimizers=opts)
    assert all(math.isfinite(v) for v in logs.values())
    model.eval()
    s = model.sample(4, generator=torch.Generator().manual_seed(0), y=2)
    assert s.shape == (4, 3, 16, 16) and s.abs().max() <= 1
    # projection: D(x, y) − D(x, y') = ⟨e_y − e_y', φ(x)⟩
    d = model.discriminator
    phi = d.body(x)
    diff = d(x, y)[0] - d(x, (y + 1) % 5)[0]
    assert torch.allclose(diff, ((d.embed(y) - d.embed((y + 1) % 5)) * phi).sum(1), atol=1e-5)


def test_config_for_data_is_conditional_on_request():
    class Data:
        name, shape, num_classes = "toy", (1, 8, 8), 10
    cfg = GAN.config_for_data(Data(), conditional="true")
    assert cfg.num_classes == 10 and cfg.shape == (1, 8, 8)
    assert GAN.config_for_data(Data()).num_classes == 0


def test_diffaug_translation_and_cutout():
    torch.manual_seed(0)
    x = torch.ones(64, 1, 16, 16)
    zeroed = (diff_augment(x, "cutout") == 0).sum((1, 2, 3))
    assert zeroed.max() == 64 and zeroed.min() >= 16  # an 8x8 square, clipped at the border
    t = diff_augment(torch.arange(256.0).view(1, 1, 16, 16).repeat(32, 1, 1, 1), "translation")
    assert t.shape == (32, 1, 16, 16)
    kept = t[t > 0]  # every nonzero pixel is an original value (pure shift with zero fill)
    assert torch.equal(kept, kept.round()) and kept.max() <= 255


def test_minibatch_features():
    h = torch.randn(8, 5)
    assert MinibatchDiscrimination(5, 3)(h).shape == (8, 8)
    same = MinibatchStdDev()(torch.ones(8, 5))
    assert same.shape == (8, 6) and same[:, -1].max() < 1e-3
    assert MinibatchStdDev()(h)[:, -1].min() > 0.1


def test_pairwise_l1_matches_broadcast_and_differentiates_twice():
    m = torch.randn(2, 7, 3, dtype=torch.double, requires_grad=True)
    ref = (m.unsqueeze(2) - m.unsqueeze(1)).abs().sum(-1)       # (K, B, B) the broadcast way
    assert torch.allclose(PairwiseL1.apply(m), ref)
    assert torch.autograd.gradcheck(PairwiseL1.apply, (m,))
    assert torch.autograd.gradgradcheck(PairwiseL1.apply, (m,))  # WGAN-GP / unrolled D need it
    h, mbd = torch.randn(16, 5), MinibatchDiscrimination(5, 3)   # o_i = Σ_{j≠i} exp(−‖M_i − M_j‖₁)
    mm = (h @ mbd.T).view(16, 3, 8)
    o = torch.exp(-(mm.unsqueeze(0) - mm.unsqueeze(1)).abs().sum(-1)).sum(1) - 1.0
    assert torch.allclose(mbd(h)[:, 5:], o, atol=1e-5)


def test_mode_seeking_loss_penalises_collapse():
    z = torch.randn(16, 4)
    assert mode_seeking_loss(z, torch.zeros(16, 2)) > 1e4
    assert mode_seeking_loss(z, z[:, :2] * 3) < 1


def test_mode_coverage():
    modes = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    s = torch.cat([modes[:2].repeat(50, 1), torch.full((10, 2), 1.0)])   # two modes + 10 junk
    m = mode_coverage(s, modes, std=0.05)
    assert m == {"modes_covered": 2, "n_modes": 3, "high_quality": pytest.approx(100 / 110)}
