"""PixelCNN: autoregressive masks, exact normalisation, cached sampling."""
from __future__ import annotations

import itertools
import math

import pytest
import torch

from genzoo.models.pixelcnn import PixelCNN, PixelCNNConfig, from_levels, to_levels
from genzoo.nn.masked_conv import MaskedConv2d, channel_mask


def tiny(shape=(1, 4, 4), levels=4, n_layers=3, num_classes=None, seed=0, dropout=0.0):
    torch.manual_seed(seed)
    cfg = PixelCNNConfig(shape=shape, levels=levels, channels=6 * shape[0], n_layers=n_layers, kernel_size=3,
                         first_kernel_size=3, head_channels=32 * shape[0], num_classes=num_classes,
                         dropout=dropout)
    model = PixelCNN(cfg).eval()
    with torch.no_grad():  # random biases/weights so no dependency is zero by accident
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model


def dependency(model, c, i, j, shape):
    """Boolean (C, H, W) map of the inputs that the distribution of (c, i, j) depends on (union
    over a batch of random inputs, so a dead ReLU at one input hides nothing)."""
    x = torch.randn(32, *shape, generator=torch.Generator().manual_seed(0)).requires_grad_()
    logits = model(x)[:, c, :, i, j]
    (g,) = torch.autograd.grad((logits.log_softmax(1).pow(2) + logits).sum(), x)
    return (g.abs() > 0).any(0)


@pytest.mark.parametrize("shape,dropout", [((1, 4, 4), 0.0), ((3, 3, 4), 0.0), ((3, 3, 4), 0.3)])
def test_autoregressive_property_every_position(shape, dropout):
    model = tiny(shape, n_layers=4, dropout=dropout)
    model.train(dropout > 0)  # dropout masks are elementwise: no new paths
    C, H, W = shape
    for c, i, j in itertools.product(range(C), range(H), range(W)):
        dep = dependency(model, c, i, j, shape)
        for cc, ii, jj in itertools.product(range(C), range(H), range(W)):
            allowed = (ii, jj) < (i, j) or ((ii, jj) == (i, j) and cc < c)
            assert allowed or not dep[cc, ii, jj], f"output {(c, i, j)} sees input {(cc, ii, jj)}"
        assert dep[:c, i, j].all(), "a channel must see the earlier channels of its own pixel"
        if j > 0:
            assert dep[:, i, j - 1].all(), "a pixel must see its left neighbour"


def test_perturbing_a_pixel_never_changes_earlier_distributions():
    model = tiny((3, 3, 3))
    x = torch.rand(1, 3, 3, 3) * 2 - 1
    base = model(x)
    order = [(c, i, j) for i in range(3) for j in range(3) for c in range(3)]  # raster, then R -> G -> B
    for k, (c, i, j) in enumerate(order):
        x2 = x.clone()
        x2[0, c, i, j] += 1.0
        out = model(x2)
        for c2, i2, j2 in order[: k + 1]:
            assert torch.equal(out[0, c2, :, i2, j2], base[0, c2, :, i2, j2])


def test_no_blind_spot():
    """With enough layers the last pixel sees every earlier pixel (the original masks miss the
    upper-right region)."""
    model = tiny((1, 4, 4), n_layers=4)
    dep = dependency(model, 0, 3, 3, (1, 4, 4))
    assert int(dep.sum()) == 15
    dep = dependency(model, 0, 1, 1, (1, 4, 4))  # includes (0, 2) and (0, 3), upper right
    assert dep[0, 0].all() and dep[0, 1, 0] and not dep[0, 1, 1:].any()


def test_original_masked_conv_types():
    conv_a = MaskedConv2d(3, 6, 3, "A", data_channels=3)
    conv_b = MaskedConv2d(3, 6, 3, "B", data_channels=3)
    assert conv_a.mask[:, :, 2].sum() == 0 and conv_a.mask[:, :, 1, 2].sum() == 0
    assert conv_a.mask[:, :, 0].all() and conv_a.mask[:, :, 1, 0].all()
    # centre tap: R outputs see nothing (A) / R (B); B outputs see R, G (A) / R, G, B (B)
    assert conv_a.mask[:, :, 1, 1].sum(1).tolist() == [0, 0, 1, 1, 2, 2]
    assert conv_b.mask[:, :, 1, 1].sum(1).tolist() == [1, 1, 2, 2, 3, 3]
    assert channel_mask(4, 2, 2, "B", out_period=2).tolist() == [[1, 0], [1, 1], [1, 0], [1, 1]]


def all_images(shape, levels):
    d = math.prod(shape)
    v = torch.tensor(list(itertools.product(range(levels), repeat=d))).view(-1, *shape)
    return from_levels(v, levels)


@pytest.mark.parametrize("shape,levels", [((1, 2, 2), 2), ((3, 1, 2), 2), ((1, 2, 2), 3)])
def test_exact_likelihood_sums_to_one(shape, levels):
    model = tiny(shape, levels=levels)
    x = all_images(shape, levels)
    with torch.no_grad():
        total = model.log_prob(x).double().logsumexp(0).exp().item()
    assert abs(total - 1.0) < 1e-5


def test_class_conditional_and_marginal_sum_to_one():
    model = tiny((1, 2, 2), levels=2, num_classes=3)
    x = all_images((1, 2, 2), 2)
    with torch.no_grad():
        for c in range(3):
            assert abs(model.log_prob(x, y=torch.full((16,), c)).exp().sum().item() - 1) < 1e-5
        marginal = model.log_prob(x)
        by_class = torch.stack([model.log_prob(x, y=torch.full((16,), c)) for c in range(3)])
        assert abs(marginal.exp().sum().item() - 1) < 1e-5
        assert torch.allclose(marginal, by_class.exp().mean(0).log(), atol=1e-5)
        assert not torch.allclose(by_class[0], by_class[1])  # the label changes the model


def test_loss_is_mean_nll_per_dim():
    model = tiny((3, 2, 3), levels=5)
    x = from_levels(torch.randint(0, 5, (4, 3, 2, 3)), 5)
    with torch.no_grad():
        assert torch.allclose(model.loss(x)["loss"], -model.log_prob(x).mean() / 18, atol=1e-5)
    assert torch.equal(to_levels(x, 5), to_levels(x + 0.01, 5))


@pytest.mark.parametrize("shape,num_classes", [((3, 4, 5), None), ((1, 5, 4), 2)])
def test_cached_sampling_matches_full_forward(shape, num_classes):
    model = tiny(shape, n_layers=3, num_classes=num_classes)
    y = torch.tensor([0, 1]) if num_classes else None
    cond = model._cond(y, 2)
    x = torch.rand(2, *shape) * 2 - 1
    with torch.no_grad():
        full = model(x, y)
        for i in range(shape[1]):
            links = model._row_links(x, i, cond)
            for j in range(shape[2]):
                assert torch.allclose(model._pixel_logits(x, i, j, links, cond), full[:, :, :, i, j], atol=1e-5)
        a = model.sample(3, generator=torch.Generator().manual_seed(5))
        b = model.sample(3, generator=torch.Generator().manual_seed(5), cache=False)
    assert torch.equal(a, b)
    assert set(to_levels(a, 4).unique().tolist()) <= {0, 1, 2, 3}
    assert torch.equal(from_levels(to_levels(a, 4), 4), a)


def test_sampling_follows_the_model_distribution():
    """Empirical frequencies of 2x1 binary samples match exp(log_prob) (chi-square style bound)."""
    model = tiny((1, 2, 1), levels=2)
    x = all_images((1, 2, 1), 2)
    with torch.no_grad():
        p = model.log_prob(x).exp()
        s = model.sample(4000, generator=torch.Generator().manual_seed(0))
    idx = to_levels(s, 2).flatten(1) @ torch.tensor([2, 1])
    freq = torch.bincount(idx, minlength=4).float() / 4000
    assert (freq - p).abs().max() < 4 * math.sqrt(0.25 / 4000) + 1e-3
