"""VAE: ELBO pieces, the IWAE bound against a closed-form marginal, collapse controls."""
from __future__ import annotations

import math

import pytest
import torch

from genzoo.models.vae import VAE, VAEConfig
from genzoo.objectives.elbo import (active_units, discretized_logistic_log_prob, free_bits_kl, gaussian_kl, kl_weight,
                                    mutual_information)


@pytest.mark.parametrize("levels", [2, 5, 17, 256])
def test_discretized_logistic_is_normalised(levels):
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(6, 1, generator=g) * 0.8
    log_scale = torch.randn(6, 1, generator=g) - 2.5
    x = torch.linspace(-1, 1, levels)[None].expand(6, -1)
    total = discretized_logistic_log_prob(x, mean, log_scale, levels).double().exp().sum(1)
    assert torch.allclose(total, torch.ones(6, dtype=torch.float64), atol=2e-3 if levels == 256 else 1e-5)


def test_gaussian_kl_matches_torch_distributions():
    mu, logvar = torch.randn(5, 3), torch.randn(5, 3)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros(5, 3), torch.ones(5, 3))
    assert torch.allclose(gaussian_kl(mu, logvar), torch.distributions.kl_divergence(q, p), atol=1e-6)


def linear_gaussian_vae(seed=0, d=4, z=2, sigma=0.5):
    """Decoder x = W z + b + σ ε; encoder = the exact posterior mean with an inflated diagonal
    variance. Returns the model and the exact marginal N(b, W Wᵀ + σ² I)."""
    torch.manual_seed(seed)
    model = VAE(VAEConfig(shape=(d,), latent_dim=z, hidden=(), likelihood="gaussian", decoder_std=sigma,
                          iwae_chunk=1000)).eval()
    W, b = torch.randn(d, z), torch.randn(d) * 0.3
    cov_post = torch.linalg.inv(torch.eye(z) + W.T @ W / sigma**2)
    A = cov_post @ W.T / sigma**2  # posterior mean = A (x - b)
    with torch.no_grad():
        model.decoder[0].weight.copy_(W)
        model.decoder[0].bias.copy_(b)
        model.encoder[0].weight.copy_(torch.cat([A, torch.zeros(z, d)]))
        model.encoder[0].bias.copy_(torch.cat([-A @ b, torch.log(1.5 * torch.diagonal(cov_post))]))
    exact = torch.distributions.MultivariateNormal(b, W @ W.T + sigma**2 * torch.eye(d))
    return model, exact


def test_iwae_increases_with_k_and_reaches_the_exact_marginal():
    model, exact = linear_gaussian_vae()
    x = exact.sample((16,))
    true = exact.log_prob(x)
    bounds = [model.log_prob(x, k=k, generator=torch.Generator().manual_seed(1)).mean().item() for k in (1, 10, 100, 5000)]
    assert bounds[0] < bounds[1] < bounds[2] < bounds[3] <= true.mean().item() + 0.01
    assert true.mean().item() - bounds[0] > 0.1  # the diagonal q is not the posterior: the ELBO is loose
    assert abs(bounds[3] - true.mean().item()) < 0.05
    per = model.log_prob(x, k=5000, generator=torch.Generator().manual_seed(2))
    assert (per - true).abs().max() < 0.05


def test_iwae_chunking_does_not_change_the_value():
    model, exact = linear_gaussian_vae()
    x = exact.sample((4,))
    a = model.log_prob(x, k=60, generator=torch.Generator().manual_seed(3))
    model.config.iwae_chunk = 7
    b = model.log_prob(x, k=60, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(a, b, atol=1e-5)


def test_elbo_is_the_k1_bound_in_expectation():
    model, exact = linear_gaussian_vae()
    x = exact.sample((8,))
    torch.manual_seed(0)
    n = 4000
    elbo = model.elbo(x.repeat(n, 1)).view(n, 8).mean(0)
    k1 = model.log_prob(x.repeat(n, 1), k=1, generator=torch.Generator().manual_seed(1)).view(n, 8).mean(0)
    assert (elbo - k1).abs().max() < 0.25
    assert (elbo < exact.log_prob(x)).all()


def test_free_bits_floor_stops_gradients_below_lambda():
    kl = torch.tensor([[0.05, 2.0], [0.15, 3.0]], requires_grad=True)
    total = free_bits_kl(kl, free_bits=0.5)
    assert torch.isclose(total, torch.tensor(0.5 + 2.5))
    (g,) = torch.autograd.grad(total, kl)
    assert g[:, 0].abs().sum() == 0 and (g[:, 1] == 0.5).all()
    assert torch.isclose(free_bits_kl(kl, 0.0), torch.tensor(0.1 + 2.5))


def test_kl_warmup_schedule_and_step_counter():
    assert kl_weight(0, 1.0, 100) == 0.0 and kl_weight(50, 2.0, 100) == 1.0 and kl_weight(500, 2.0, 100) == 2.0
    assert kl_weight(0, 0.5, 0) == 0.5
    model = VAE(VAEConfig(shape=(3,), latent_dim=2, hidden=(8,), likelihood="gaussian", warmup_steps=4))
    x = torch.randn(8, 3)
    weights = [model.loss(x)["kl_weight"].item() for _ in range(6)]
    assert weights == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    model.eval()
    model.loss(x)
    assert int(model.step) == 6


def test_active_units_and_mutual_information():
    g = torch.Generator().manual_seed(0)
    mu = torch.cat([torch.randn(500, 2, generator=g), torch.full((500, 2), 0.3)], 1)  # 2 informative dims
    assert active_units(mu) == 2
    logvar = torch.full_like(mu, math.log(0.01))
    z = mu + 0.1 * torch.randn(500, 4, generator=g)
    mi = mutual_information(mu, logvar, z).item()
    collapsed = mutual_information(torch.zeros(500, 4), torch.zeros(500, 4), torch.randn(500, 4, generator=g)).item()
    assert mi > 3.0 and abs(collapsed) < 1e-5


@pytest.mark.parametrize("shape,levels,backbone", [((1, 8, 8), 2, "mlp"), ((1, 8, 8), 17, "conv"), ((3, 16, 16), 4, "conv"), ((2,), None, "mlp")])
def test_backbones_likelihoods_and_sampling(shape, levels, backbone):
    torch.manual_seed(0)
    cfg = VAE.config_for_data(None, shape=shape, levels=levels, backbone=backbone, latent_dim=4, hidden=(32,),
                              channels=8, iwae_k=8, likelihood="auto")
    model = VAE(cfg)
    assert model.lik == {2: "bernoulli", 17: "logistic", 4: "logistic", None: "gaussian"}[levels]
    assert model.discrete_log_prob == (levels is not None)
    x = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (5, *shape)
    if levels:
        v = (x + 1) * (levels - 1) / 2
        assert torch.allclose(v, v.round(), atol=1e-4) and x.min() >= -1 and x.max() <= 1
    out = model.loss(x)
    assert torch.isfinite(out["loss"]) and out["kl"] >= 0
    lp = model.log_prob(x)
    assert lp.shape == (5,) and torch.isfinite(lp).all()
    if levels:
        assert (lp <= 0).all()  # a bound on a probability mass


def test_iwae_bound_is_below_one_on_all_binary_configurations():
    """For a Bernoulli VAE on 3 binary dims, Σ_x exp(IWAE_k(x)) <= 1 and approaches 1 as k grows."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(shape=(3,), levels=2, latent_dim=2, hidden=(16,), likelihood="bernoulli")).eval()
    x = torch.tensor([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype=torch.float32) * 2 - 1
    totals = [model.log_prob(x, k=k, generator=torch.Generator().manual_seed(0)).exp().sum().item() for k in (1, 2000)]
    assert totals[0] < totals[1] <= 1.01  # <= 1 in expectation
    assert totals[1] > 0.99


def text_vae(**kw):
    torch.manual_seed(0)
    return VAE(VAEConfig(shape=(2,), vocab_size=3, backbone="rnn", likelihood="categorical", latent_dim=2,
                         hidden=(16,), embed_dim=8, **kw))


def test_text_vae_bound_normalises_over_all_sequences():
    model = text_vae().eval()
    x = torch.tensor([[a, b] for a in range(3) for b in range(3)])
    total = model.log_prob(x, k=2000, generator=torch.Generator().manual_seed(0)).exp().sum().item()
    assert 0.98 < total <= 1.01
    for z in torch.randn(3, 1, 2):  # p(x|z) itself sums to one for every z
        assert abs(model.rec_log_prob(x, z.expand(9, 2)).exp().sum().item() - 1) < 1e-5


def test_text_vae_sampling_and_word_dropout():
    model = text_vae(word_dropout=1.0)
    s = model.sample(4, generator=torch.Generator().manual_seed(0))
    assert s.dtype == torch.long and s.shape == (4, 2) and s.max() < 3
    assert torch.equal(s, model.sample(4, generator=torch.Generator().manual_seed(0)))
    x = torch.tensor([[0, 1], [2, 2]])
    z = torch.zeros(2, 2)
    dropped = model.decoder(x, z, word_dropout=1.0)
    kept = model.decoder(x, z)
    assert torch.allclose(dropped[:, 0], kept[:, 0]) and not torch.allclose(dropped[:, 1], kept[:, 1])
    assert torch.isfinite(model.loss(x)["loss"])
