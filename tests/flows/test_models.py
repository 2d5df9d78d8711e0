"""Flow models: the whole transform of every model is invertible with the autograd log-det, and
bits/dim on quantised data accounts for the [-1, 1] scaling (checked against exact bin masses)."""
import math

import pytest
import torch

import genzoo as gz
from genzoo.data.base import GenDataset
from genzoo.metrics.likelihood import likelihood_metrics

CASES = {
    "nsf": dict(shape=(3,), transforms=2, hidden=(8,), bins=4),
    "nsf-coupling": dict(shape=(3,), transforms=3, hidden=(8,), bins=4, coupling=True),
    "maf": dict(shape=(3,), transforms=2, hidden=(8,)),
    "iaf": dict(shape=(3,), transforms=2, hidden=(8,)),
    "realnvp": dict(shape=(3,), transforms=3, hidden=(8,)),
    "realnvp-image": dict(shape=(1, 4, 4), scales=1, channels=8, blocks=1),
    "glow": dict(shape=(2,), steps=2, hidden=(8,)),
    "glow-image": dict(shape=(1, 4, 4), scales=2, steps=1, channels=8),
}


def build(case):
    torch.manual_seed(0)
    model = gz.build(case.split("-")[0], None, **CASES[case]).double()
    x = torch.randn(6, *CASES[case]["shape"], dtype=torch.float64)
    model.train()
    model.loss(x)  # ActNorm data-dependent init
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.05)
    return model.eval(), x


@pytest.mark.parametrize("case", sorted(CASES))
def test_model_transform_inverse_and_logdet(case):
    model, x = build(case)
    t = model.flow.transform
    xf = model._to_flow(x)
    z, ld = t(xf)
    x2, ld2 = t.inverse(z)
    torch.testing.assert_close(x2, xf, atol=1e-6, rtol=0)
    torch.testing.assert_close(ld2, -ld, atol=1e-6, rtol=0)
    jac = torch.autograd.functional.jacobian(lambda v: t(v)[0].reshape(-1), xf[:1]).reshape(xf[0].numel(), -1)
    torch.testing.assert_close(ld[0], torch.linalg.slogdet(jac)[1], atol=1e-6, rtol=1e-6)
    s = model.sample(4, generator=torch.Generator().manual_seed(0))
    assert s.shape == (4, *CASES[case]["shape"]) and torch.isfinite(s).all()


def test_iaf_log_prob_equals_maf_with_shared_weights_inverted():
    """IAF's log p(x) (sequential) must equal the change of variables through its one-pass sampler."""
    model, _ = build("iaf")
    x, lp = model.flow.sample_and_log_prob(5, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(model.log_prob(x), lp, atol=1e-8, rtol=0)


def gaussian_bin_log_mass(x, width):
    """Exact log P(bin) of N(0, I) for bins of the given width centred at x (per example)."""
    normal = torch.distributions.Normal(0.0, 1.0)
    mass = normal.cdf(x + width / 2) - normal.cdf(x - width / 2)
    return mass.log().reshape(len(x), -1).sum(1)


@pytest.mark.parametrize("levels", [17, 256])
def test_bits_per_dim_accounts_for_data_scaling(levels):
    """An untrained flow is exactly N(0, I) on the [-1, 1]-scaled data (zero-initialised layers,
    no ActNorm init). Its bpd from the metric must match the exact discrete mass of each bin."""
    v = torch.randint(0, levels, (200, 1, 4, 4), generator=torch.Generator().manual_seed(0))
    x = 2 * v.double() / (levels - 1) - 1
    data = GenDataset("q", "test", "image", x.float(), levels=levels)
    model = gz.build("realnvp", data, scales=1, channels=8, blocks=1).double().eval()
    width = 2.0 / (levels - 1)
    with torch.no_grad():
        torch.testing.assert_close(model.log_prob(x), torch.distributions.Normal(0.0, 1.0).log_prob(x).sum((1, 2, 3)))
    exact_bpd = -gaussian_bin_log_mass(x, width).mean().item() / (16 * math.log(2))
    metric = likelihood_metrics(model, data)
    # the metric's bpd comes from the dequantisation bound: close to the exact mass, and a wrong
    # scaling would be off by log2(Δ) >= 3 bits
    assert abs(metric["bpd"] - exact_bpd) < 0.01
    # nll stays the density at the data points: midpoint rule log ∫_bin p = log(p(x) Δ) + O(Δ²)
    centre_bpd = (metric["nll"] - 16 * math.log(width)) / (16 * math.log(2))
    assert abs(centre_bpd - exact_bpd) < width ** 2 / (12 * math.log(2))
    # the importance-weighted dequantisation bound is (in expectation) below the exact mass, and close
    with torch.no_grad():
        bound = model.dequantized_log_prob(x, samples=8, generator=torch.Generator().manual_seed(0))
    exact = gaussian_bin_log_mass(x, width) - 16 * math.log(width)
    assert -0.02 < (exact - bound).mean() < 0.05  # Monte Carlo noise of 8 samples either way
    # the loss reports the same accounting: bpd = (nll - D log Δ) / (D ln 2)
    model.train()
    out = model.loss(x)
    torch.testing.assert_close(out["bpd"], (out["nll"] - 16 * math.log(width)) / (16 * math.log(2)))


def test_variational_dequantization_trains_and_bounds():
    torch.manual_seed(0)
    levels = 5
    v = torch.randint(0, levels, (64, 4), generator=torch.Generator().manual_seed(0))
    x = (2 * v.float() / (levels - 1) - 1)
    model = gz.build("maf", None, shape=(4,), levels=levels, dequantization="variational", transforms=2, hidden=(16,))
    assert model.dequantizer is not None
    u, log_q = model.dequantizer(x, generator=torch.Generator().manual_seed(0))
    assert ((u > 0) & (u < 1)).all() and torch.isfinite(log_q).all()
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    first = None
    for _ in range(60):
        loss = model.loss(x)["loss"]
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first
    # the variational bound can never beat the best discrete model: log P(v) <= 0
    lb = model.dequantized_log_prob(x, samples=4) + 4 * math.log(2 / (levels - 1))
    assert (lb <= 1e-6).all()


def test_bad_options_raise_one_line_errors():
    with pytest.raises(gz.ConfigError):
        gz.build("nsf", None, dequantization="gaussian")
    with pytest.raises(gz.ConfigError):
        gz.build("maf", None, hiden=(3,))
    with pytest.raises(gz.DataError):
        gz.build("maf", None, shape=(2,)).log_prob(torch.zeros(3, 4))


@pytest.mark.parametrize("kind", ["maf", "nsf"])
def test_training_reaches_the_entropy_of_a_correlated_gaussian(kind):
    """Statistical check (fixed seeds): maximum likelihood on N(0, Σ) gets within 0.05 nats of H."""
    torch.manual_seed(0)
    cov = torch.tensor([[1.0, 0.8], [0.8, 1.0]]) * 0.5
    chol = torch.linalg.cholesky(cov)
    entropy = 0.5 * torch.logdet(2 * math.pi * math.e * cov).item()
    g = torch.Generator().manual_seed(0)
    train = torch.randn(4096, 2, generator=g) @ chol.T
    test = torch.randn(4096, 2, generator=g) @ chol.T
    model = gz.build(kind, None, transforms=2, hidden=(16,))
    opt = model.configure_optimizers(lr=1e-2)[0]
    for _ in range(200):
        loss = model.loss(train[torch.randint(0, len(train), (256,), generator=g)])["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        nll = -model.eval().log_prob(test).mean().item()
    assert abs(nll - entropy) < 0.05, (nll, entropy)
