"""ODE likelihood: with the exact score of Gaussian data plugged in, the probability-flow ODE's
log-likelihood equals the analytic log-density (Song et al. 2021, section 4.3)."""
from __future__ import annotations

import math

import pytest
import torch

from genzoo.samplers.likelihood_ode import ode_log_prob
from genzoo.sde import SubVPSDE, VESDE, VPSDE

MU = torch.tensor([0.8, -0.5], dtype=torch.float64)
ROT = torch.tensor([[math.cos(0.6), -math.sin(0.6)], [math.sin(0.6), math.cos(0.6)]], dtype=torch.float64)
SIGMA = ROT @ torch.diag(torch.tensor([0.6, 0.15], dtype=torch.float64)) ** 2 @ ROT.T   # correlated


def gaussian_logpdf(x, mean, cov):
    return torch.distributions.MultivariateNormal(mean, cov).log_prob(x)


def exact_score(sde):
    """grad log p_t for data N(MU, SIGMA): p_t = N(m MU, m^2 SIGMA + s^2 I)."""
    def score(x, t):
        m, s = sde.marginal(t)
        cov = m[:, None, None] ** 2 * SIGMA + s[:, None, None] ** 2 * torch.eye(2, dtype=x.dtype)
        return -torch.linalg.solve(cov, (x - m[:, None] * MU).unsqueeze(-1)).squeeze(-1)
    return score


def marginal_logpdf(sde, t):
    """log p_t for data N(MU, SIGMA); p_0 itself for VP/sub-VP, N(MU, SIGMA + sigma_min^2 I) for VE."""
    m, s = sde.marginal(torch.tensor([t], dtype=torch.float64))
    return lambda z: gaussian_logpdf(z, m * MU, m ** 2 * SIGMA + s ** 2 * torch.eye(2, dtype=torch.float64))


def true_prior(sde):
    """The exact p_T (the SDE's N(0, prior_std^2) differs from it by O(m(T)) or O(1 / sigma_max))."""
    return marginal_logpdf(sde, sde.T)


def flow_logp(sde, x, prior=None, **kw):
    score = exact_score(sde)
    velocity = lambda y, t: sde.reverse_drift(y, t, score(y, t), ode=True)  # noqa: E731
    return ode_log_prob(velocity, x, 0.0, sde.T, prior or sde.prior_log_prob, rtol=1e-7, atol=1e-7, **kw)


POINTS = torch.tensor([[0.1, 0.2], [1.0, -1.0], [-0.4, 0.3], [2.0, 0.5]], dtype=torch.float64)


@pytest.mark.parametrize("sde", [VPSDE(), SubVPSDE(), VESDE(sigma_min=0.01, sigma_max=5.0)], ids=["vp", "subvp", "ve"])
def test_ode_likelihood_equals_gaussian_log_density(sde):
    stats = {}
    logp = flow_logp(sde, POINTS, true_prior(sde), trace="exact", stats=stats)
    assert (logp - marginal_logpdf(sde, 0.0)(POINTS)).abs().max().item() / 2 < 1e-5   # nats per dimension
    assert stats["nfe"] > 10


def test_with_the_sde_prior_within_1e_3_nats_per_dim():
    """With the N(0, I) prior the only error left is p_T's mismatch: < 1e-3 nats/dim once m(T) is tiny."""
    sde = VPSDE(beta_max=40.0)
    logp = flow_logp(sde, POINTS, trace="exact")
    assert (logp - gaussian_logpdf(POINTS, MU, SIGMA)).abs().max().item() / 2 < 1e-3


def test_rk45_and_dopri5_agree():
    x = torch.tensor([[0.1, 0.2], [1.0, -1.0]], dtype=torch.float64)
    a = flow_logp(VPSDE(), x, trace="exact")
    b = flow_logp(VPSDE(), x, trace="exact", method="rk45")
    assert torch.allclose(a, b, atol=1e-5)


def test_hutchinson_is_unbiased_and_seeded():
    sde = VPSDE()
    x = torch.tensor([[0.5, 0.1]], dtype=torch.float64).expand(32, 2).contiguous()
    g = torch.Generator().manual_seed(0)
    prior = true_prior(sde)
    est = flow_logp(sde, x, prior, trace="hutchinson", generator=g)
    truth = gaussian_logpdf(x[:1], MU, SIGMA)
    assert est.std() > 1e-3                                     # the probes do vary (correlated covariance)
    assert abs(est.mean() - truth).item() < 4 * est.std().item() / 32 ** 0.5
    again = flow_logp(sde, x, prior, trace="hutchinson", generator=torch.Generator().manual_seed(0))
    assert torch.equal(est, again)
