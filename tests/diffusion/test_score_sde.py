"""Score SDEs: forward marginals match their closed forms; with the exact score of Gaussian data the
probability-flow ODE likelihood equals the analytic log-density and PC / EM / ODE samplers recover it."""
import math

import pytest
import torch
from torch import nn

import genzoo as gz
from genzoo.samplers.sde import SDE

M0, S0 = 0.5, 0.6


@pytest.mark.parametrize("kind", ["vp", "subvp", "ve"])
def test_forward_sde_marginals_match_closed_form(kind):
    sde = SDE(kind, sigma_max=5.0)
    g = torch.Generator().manual_seed(0)
    x = torch.full((20000, 1), 0.8)
    steps, t_end = 400, 0.6
    dt = t_end / steps
    for i in range(steps):
        t = torch.tensor(i * dt)
        f, gt = sde.drift_diffusion(x, t)
        x = x + f * dt + gt * math.sqrt(dt) * torch.randn(x.shape, generator=g)
    m, s = sde.marginal(torch.tensor(t_end))
    assert abs(x.mean().item() - 0.8 * m.item()) < 0.02 * max(1.0, s.item())
    assert abs(x.std().item() / s.item() - 1) < 0.03


class ExactEps(nn.Module):
    """eps_hat = s(t) (x - m M0) / (m^2 S0^2 + s^2): the exact noise predictor for N(M0, S0^2) data."""

    def __init__(self, sde):
        super().__init__()
        self.sde = sde

    def forward(self, x, t, class_labels=None):
        t = (torch.as_tensor(t, dtype=torch.float64) / 999.0).reshape(-1)[:1]
        m, s = self.sde.marginal(t)
        return (s * (x.double() - m * M0) / (m ** 2 * S0 ** 2 + s ** 2)).to(x.dtype)


def exact_model(kind="vp", tol=1e-6):
    model = gz.build("score-sde", shape=(3,), hidden=8, depth=1, sde=kind, sigma_max=5.0, ode_rtol=tol, ode_atol=tol).eval()
    model.net = ExactEps(model.sde)
    return model


def gauss_logp(x, mean, var):
    return (-0.5 * (x - mean) ** 2 / var - 0.5 * torch.log(2 * math.pi * var)).sum(1)


@pytest.mark.parametrize("kind", ["vp", "ve"])
def test_probability_flow_likelihood_is_exact(kind):
    """ODE result = log p_eps(x) - log p_1(z) + log prior(z), with the flow z = mu_1 + sd_1/sd_eps (x - mu_eps)
    affine for Gaussian data: checks solver, divergence and prior term to 1e-3 nats/dim."""
    model = exact_model(kind)
    x = M0 + S0 * torch.randn(6, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    stats = []
    for t in (model.config.t_eps, 1.0):
        m, s = model.sde.marginal(torch.tensor(t, dtype=torch.float64))
        stats.append((m * M0, m ** 2 * S0 ** 2 + s ** 2))
    (mu0, var0), (mu1, var1) = stats
    z = mu1 + (var1 / var0).sqrt() * (x - mu0)
    prior_var = torch.tensor(model.sde.prior_std ** 2, dtype=torch.float64)
    expected = gauss_logp(x, mu0, var0) - gauss_logp(z, mu1, var1) + gauss_logp(z, 0.0, prior_var)
    lp = model.log_prob(x)
    assert ((lp - expected).abs() / 3).max() < 1e-3, lp - expected


@pytest.mark.parametrize("sampler,steps", [("pc", 200), ("em", 400), ("ode", None)])
def test_samplers_recover_the_gaussian(sampler, steps):
    x = exact_model(tol=1e-5).sample(3000, generator=torch.Generator().manual_seed(1), sampler=sampler, steps=steps)
    assert abs(x.mean().item() - M0) < 0.03 and abs(x.std().item() - S0) < 0.03, (x.mean(), x.std())
