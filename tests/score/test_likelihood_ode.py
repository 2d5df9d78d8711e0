"""ODE likelihood: with the exact score of Gaussian data plugged into the probability-flow ODE, the
log-likelihood equals the analytic log-density (Song et al. 2021, section 4.3); Hutchinson's trace is
unbiased and seeded; the DDPM bridge gives the data density of a closed-form denoiser."""
from __future__ import annotations

import math

import pytest
import torch

import genzoo as gz
from genzoo.samplers.likelihood_ode import ddpm_log_prob, gaussian_log_prob, ode_log_prob

D64 = torch.float64
MU = torch.tensor([0.8, -0.5], dtype=D64)
ROT = torch.tensor([[math.cos(0.6), -math.sin(0.6)], [math.sin(0.6), math.cos(0.6)]], dtype=D64)
SIGMA = ROT @ torch.diag(torch.tensor([0.6, 0.15], dtype=D64)) ** 2 @ ROT.T   # correlated covariance
POINTS = torch.tensor([[0.1, 0.2], [1.0, -1.0], [-0.4, 0.3], [2.0, 0.5]], dtype=D64)


def logpdf(x, mean, cov):
    return torch.distributions.MultivariateNormal(mean, cov).log_prob(x)


class VP:
    """Closed forms of the VP SDE (beta linear in t), written out here so the test is independent."""

    def __init__(self, b0=0.1, b1=20.0):
        self.b0, self.b1 = b0, b1

    def marginal(self, t):
        m = torch.exp(-0.25 * t ** 2 * (self.b1 - self.b0) - 0.5 * t * self.b0)
        return m, (1 - m ** 2).sqrt()

    def p_t(self, t):
        m, s = self.marginal(torch.tensor(float(t), dtype=D64))
        return lambda x: logpdf(x, m * MU, m ** 2 * SIGMA + s ** 2 * torch.eye(2, dtype=D64))

    def velocity(self, x, t):
        """``f - g^2/2 score`` with the exact score of p_t = N(m MU, m^2 SIGMA + s^2 I)."""
        m, s = self.marginal(t)
        cov = m[:, None, None] ** 2 * SIGMA + s[:, None, None] ** 2 * torch.eye(2, dtype=D64)
        score = -torch.linalg.solve(cov, (x - m[:, None] * MU).unsqueeze(-1)).squeeze(-1)
        beta = (self.b0 + t * (self.b1 - self.b0))[:, None]
        return -0.5 * beta * x - 0.5 * beta * score


def test_ode_likelihood_equals_the_gaussian_log_density():
    vp, stats = VP(), {}
    logp = ode_log_prob(vp.velocity, POINTS, 0.0, 1.0, vp.p_t(1.0), trace="exact", rtol=1e-7, atol=1e-7, stats=stats)
    assert (logp - logpdf(POINTS, MU, SIGMA)).abs().max().item() / 2 < 1e-5   # nats per dimension
    assert stats["nfe"] > 10


def test_with_the_standard_normal_prior_within_1e_3_nats_per_dim():
    """With N(0, I) as the prior the only error left is p_T's mismatch, < 1e-3 nats/dim once m(T) is tiny."""
    vp = VP(b1=40.0)
    logp = ode_log_prob(vp.velocity, POINTS, 0.0, 1.0, gaussian_log_prob, trace="exact", rtol=1e-6, atol=1e-6)
    assert (logp - logpdf(POINTS, MU, SIGMA)).abs().max().item() / 2 < 1e-3


def test_rk45_and_dopri5_agree():
    vp = VP()
    a = ode_log_prob(vp.velocity, POINTS[:2], 0.0, 1.0, vp.p_t(1.0), trace="exact", rtol=1e-6, atol=1e-6)
    b = ode_log_prob(vp.velocity, POINTS[:2], 0.0, 1.0, vp.p_t(1.0), trace="exact", rtol=1e-6, atol=1e-6, method="rk45")
    assert torch.allclose(a, b, atol=1e-4)


def test_hutchinson_is_unbiased_and_seeded():
    vp = VP()
    x = POINTS[:1].expand(32, 2).contiguous()

    def run(seed):
        return ode_log_prob(vp.velocity, x, 0.0, 1.0, vp.p_t(1.0), trace="hutchinson", rtol=1e-5, atol=1e-5,
                            generator=torch.Generator().manual_seed(seed))

    est = run(0)
    truth = logpdf(POINTS[:1], MU, SIGMA)
    assert est.std() > 1e-3                                   # the probes do vary (correlated covariance)
    assert abs(est.mean() - truth).item() < 4 * est.std().item() / 32 ** 0.5
    assert torch.equal(est, run(0))


class GaussianEps(torch.nn.Module):
    """The exact eps-prediction for 1-D data N(mu, s^2) under a DDPM schedule (continuous in t)."""

    def __init__(self, schedule, mu, s):
        super().__init__()
        self.ac, self.mu, self.s = schedule.alphas_cumprod.double(), mu, s

    def forward(self, x, t, class_labels=None):
        t = torch.as_tensor(t, dtype=D64).expand(x.shape[0])
        lo = t.floor().long().clamp(0, len(self.ac) - 2)
        w = (t - lo).to(D64)
        log_ac = (1 - w) * self.ac[lo].log() + w * self.ac[lo + 1].log()     # the same log-linear interpolation
        a, sig = log_ac.exp().sqrt()[:, None], (1 - log_ac.exp()).sqrt()[:, None]
        x = x.double()
        var = a ** 2 * self.s ** 2 + sig ** 2
        return (sig * (x - a * self.mu) / var).to(torch.float32)


def test_ddpm_bridge_recovers_a_gaussian_density():
    model = gz.build("ddpm", shape=(1,), hidden=8, depth=1).eval()
    model.net = GaussianEps(model.schedule, 0.5, 0.4)
    x = torch.tensor([[0.1], [0.5], [1.2]])
    logp = ddpm_log_prob(model, x, trace="exact", rtol=1e-6, atol=1e-6)
    truth = torch.distributions.Normal(0.5, (0.4 ** 2 + 0.01 ** 2) ** 0.5).log_prob(x[:, 0])   # + sigma_0 noise
    assert torch.allclose(logp.float(), truth, atol=1e-2), (logp, truth)   # float32 network


@pytest.mark.parametrize("bad", ["trace", "nope"])
def test_unknown_trace_is_a_config_error(bad):
    with pytest.raises(gz.ConfigError, match="trace"):
        ode_log_prob(VP().velocity, POINTS, 0.0, 1.0, gaussian_log_prob, trace=bad)
