"""MADE model: autoregressive masks per ordering, exact normalisation, order-agnostic ensemble."""
from __future__ import annotations

import itertools
import math

import pytest
import torch

from genzoo.models.made import MADE, MADEConfig
from genzoo.models.pixelcnn import from_levels, to_levels


def tiny(shape=(1, 2, 2), levels=2, k=4, seed=0, **kw):
    torch.manual_seed(seed)
    model = MADE(MADEConfig(shape=shape, levels=levels, hidden=(48, 48), num_orderings=k, **kw)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model


def all_configs(shape, levels):
    v = torch.tensor(list(itertools.product(range(levels), repeat=math.prod(shape)))).view(-1, *shape)
    return from_levels(v, levels)


def test_orderings_are_distinct_permutations():
    model = tiny((1, 3, 3), k=5)
    deg = model.degrees
    assert deg[0].tolist() == list(range(1, 10))
    for row in deg:
        assert sorted(row.tolist()) == list(range(1, 10))
    assert len({tuple(r.tolist()) for r in deg}) == 5


@pytest.mark.parametrize("ordering", [0, 1, 2, 3])
def test_autoregressive_property_for_each_ordering(ordering):
    model = tiny((1, 2, 3), levels=3, k=4)
    deg = model.degrees[ordering]
    x = torch.randn(16, 1, 2, 3, requires_grad=True)
    for d in range(6):
        logits = model(x, ordering)[:, d]
        (g,) = torch.autograd.grad((logits.log_softmax(-1) ** 2 + logits).sum(), x)
        seen = (g.abs() > 0).any(0).flatten()
        assert torch.equal(seen, deg < deg[d]), f"ordering {ordering}, output {d}"


@pytest.mark.parametrize("shape,levels", [((1, 2, 2), 2), ((3,), 3)])
def test_exact_likelihood_sums_to_one_per_ordering_and_ensemble(shape, levels):
    model = tiny(shape, levels=levels, k=3)
    x = all_configs(shape, levels)
    with torch.no_grad():
        for k in range(3):
            assert abs(model.log_prob_ordering(x, k).exp().sum().item() - 1) < 1e-5
        lp = model.log_prob(x)
        per = torch.stack([model.log_prob_ordering(x, k) for k in range(3)])
    assert abs(lp.exp().sum().item() - 1) < 1e-5
    assert torch.allclose(lp, per.exp().mean(0).log(), atol=1e-6)  # the ensemble is the mixture
    assert not torch.allclose(per[0], per[1])  # orderings give different models before training


def test_eval_orderings_limits_the_mixture():
    model = tiny(k=4, eval_orderings=1)
    x = all_configs((1, 2, 2), 2)
    with torch.no_grad():
        assert torch.allclose(model.log_prob(x), model.log_prob_ordering(x, 0))


def test_sampling_matches_the_mixture_distribution():
    model = tiny((1, 1, 2), levels=2, k=3)
    x = all_configs((1, 1, 2), 2)
    with torch.no_grad():
        p = model.log_prob(x).exp()
        s = model.sample(6000, generator=torch.Generator().manual_seed(0))
    idx = to_levels(s, 2).flatten(1) @ torch.tensor([2, 1])
    freq = torch.bincount(idx, minlength=4).float() / 6000
    assert (freq - p).abs().max() < 4 * math.sqrt(0.25 / 6000) + 1e-3


def test_order_agnostic_training_fits_a_correlated_binary_source():
    """x2 = x1 with prob 0.9: every ordering must learn it, so the ensemble NLL approaches the
    entropy H = ln 2 + H_b(0.9) nats."""
    torch.manual_seed(0)
    model = MADE(MADEConfig(shape=(2,), levels=2, hidden=(32,), num_orderings=2))
    g = torch.Generator().manual_seed(1)
    a = torch.randint(0, 2, (512,), generator=g)
    b = torch.where(torch.rand(512, generator=g) < 0.9, a, 1 - a)
    x = from_levels(torch.stack([a, b], 1), 2)
    opt = torch.optim.Adam(model.parameters(), lr=5e-2)
    for _ in range(80):
        opt.zero_grad()
        model.loss(x)["loss"].backward()
        opt.step()
    entropy = math.log(2) - (0.9 * math.log(0.9) + 0.1 * math.log(0.1))
    with torch.no_grad():
        for k in range(2):
            assert -model.log_prob_ordering(x, k).mean().item() < entropy + 0.05
