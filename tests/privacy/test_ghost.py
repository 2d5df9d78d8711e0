"""Ghost clipping (all-linear models) equals the exact vmap engine, and is chosen only when it does."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from genzoo.privacy.dp import PerExampleGrads, make_engine


def net_and_loss(mean=True):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3))

    def loss(batch):
        per_example = (net(batch[0]) - batch[1]).pow(2).flatten(1).mean(1)
        return {"loss": per_example.mean() if mean else per_example.mean() ** 2}
    return net, loss


@pytest.mark.parametrize("shape", [(10, 6), (10, 5, 6)])  # vectors, and T = 5 rows per example
def test_ghost_norms_and_clipped_sums_equal_vmap(shape):
    net, loss = net_and_loss()
    batch = (torch.randn(*shape), torch.randn(*shape[:-1], 3))
    engine = make_engine(net, loss, batch, 0.5)
    assert engine.name == "ghost"
    _, _, fast, fast_norms = engine.clipped(batch, 0.5)
    _, _, exact, norms = PerExampleGrads(net, loss).clipped(batch, 0.5)
    torch.testing.assert_close(fast_norms, norms, rtol=1e-4, atol=1e-6)
    for a, b in zip(fast, exact):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_a_loss_that_is_not_a_mean_of_examples_keeps_the_exact_engine():
    net, loss = net_and_loss(mean=False)  # the square of the batch mean couples examples: ghost's g_i would be wrong
    engine = make_engine(net, loss, (torch.randn(10, 6), torch.randn(10, 3)), 0.5)
    assert engine.name == "vmap"


def test_a_loss_that_draws_noise_gets_ghost_with_the_same_noise_as_vmap():
    import genzoo as gz
    from genzoo.data.base import GenDataset

    torch.manual_seed(0)
    data = GenDataset("t", "train", "2d", torch.randn(32, 2))
    model = gz.build("ddpm", data, hidden=32, depth=2)  # a 2-D DDPM: nn.Linear only; its loss draws t and eps
    batch = data.batch(torch.arange(8))
    engine = make_engine(model, model.loss, batch, 1.0)
    assert engine.name == "ghost"
    torch.manual_seed(1)
    _, _, fast, fast_norms = engine.clipped(batch, 1.0)
    torch.manual_seed(1)
    _, _, exact, norms = PerExampleGrads(model, model.loss).clipped(batch, 1.0)
    torch.testing.assert_close(fast_norms, norms, rtol=1e-4, atol=1e-6)
    for a, b in zip(fast, exact):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def _assert_same_as_vmap(model, loss, batch, atol=1e-5):
    torch.manual_seed(1)
    max_norm = PerExampleGrads(model, loss).clipped(batch, 1.0)[3].median().item()  # some examples clipped, some not
    engine = make_engine(model, loss, batch, max_norm)
    assert engine.name == "ghost"
    torch.manual_seed(1)
    _, _, fast, fast_norms = engine.clipped(batch, max_norm)
    torch.manual_seed(1)
    _, _, exact, norms = PerExampleGrads(model, loss).clipped(batch, max_norm)
    torch.testing.assert_close(fast_norms, norms, rtol=1e-4, atol=1e-6)
    assert (norms > max_norm).any() and (norms < max_norm).any()  # some examples clipped, some not
    for a, b in zip(fast, exact):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=atol)


@pytest.mark.parametrize("overrides", [
    {},                                                   # tied embedding / LM head, learned positions, LayerNorm
    {"tie_embeddings": False, "norm": "rmsnorm", "bias": False},
    {"position": "rope", "activation": "swiglu"},
])
def test_gpt_gets_ghost_clipping_equal_to_vmap(overrides):
    import genzoo as gz
    from genzoo.models.gpt import GPTConfig

    torch.manual_seed(0)
    model = gz.models.gpt.GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16, **overrides))
    batch = (torch.randint(0, 11, (6, 8)), torch.zeros(6))
    _assert_same_as_vmap(model, model.loss, batch)


def test_embedding_with_padding_idx_and_a_linear_sharing_a_weight():
    torch.manual_seed(0)
    emb, head = nn.Embedding(9, 5, padding_idx=0), nn.Linear(5, 9, bias=False)
    head.weight = emb.weight
    model = nn.ModuleDict({"emb": emb, "head": head, "ln": nn.LayerNorm(5)})

    def loss(batch):
        h = model["ln"](model["emb"](batch[0]))
        return {"loss": F.cross_entropy(model["head"](h).transpose(1, 2), batch[1])}

    ids = torch.randint(0, 9, (5, 4))
    ids[0, :2] = 0
    _assert_same_as_vmap(model, loss, (ids, torch.randint(0, 9, (5, 4))))


def test_a_parameter_used_outside_supported_layers_keeps_the_exact_engine():
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    scale = nn.Parameter(torch.ones(2))
    model = nn.ModuleDict({"net": net})
    model.register_parameter("scale", scale)

    def loss(batch):
        return {"loss": (model["net"](batch[0]) * scale).pow(2).mean()}

    assert make_engine(model, loss, (torch.randn(6, 3),), 0.5).name == "vmap"


def test_made_gets_ghost_clipping_with_one_ordering_and_the_exact_loop_with_several():
    from genzoo.models.made import MADE, MADEConfig

    x = (torch.rand(6, 1, 3, 3, generator=torch.Generator().manual_seed(0)) > 0.5).float() * 2 - 1
    batch = (x, torch.zeros(6))
    torch.manual_seed(0)
    one = MADE(MADEConfig(shape=(1, 3, 3), levels=2, hidden=(24, 24), num_orderings=1))
    _assert_same_as_vmap(one, one.loss, batch)  # masked linear layers: G_i = (g_iᵀ a_i) ⊙ M
    # several orderings: a batch shares one drawn ordering, the exact engine draws one per example
    # (a different, equally private computation), so the first-step comparison keeps the exact engine
    several = MADE(MADEConfig(shape=(1, 3, 3), levels=2, hidden=(24, 24), num_orderings=4))
    assert make_engine(several, several.loss, batch, 1.0).name != "ghost"
