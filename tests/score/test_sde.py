"""Forward SDEs: closed-form marginals against simulated forward trajectories; kernels; errors."""
from __future__ import annotations

import math

import pytest
import torch

import genzoo as gz
from genzoo.sde import SubVPSDE, VESDE, VPSDE, make_sde

SDES = {"vp": VPSDE(), "subvp": SubVPSDE(), "ve": VESDE(sigma_min=0.01, sigma_max=5.0)}


def simulate_forward(sde, x0: torch.Tensor, record: tuple[float, ...], steps: int, g: torch.Generator) -> list:
    """Euler–Maruyama on dx = f dt + g dW from t = 0 to max(record) (float64); states at ``record``."""
    x, dt, out = x0.clone(), max(record) / steps, []
    for i in range(steps):
        t = torch.tensor([i * dt], dtype=x.dtype)
        f, diff = sde.drift_diffusion(x, t)
        x = x + f * dt + diff * math.sqrt(dt) * torch.randn(x.shape, generator=g, dtype=x.dtype)
        if any(abs((i + 1) * dt - r) < dt / 2 for r in record):
            out.append(x.clone())
    return out


@pytest.mark.parametrize("name", list(SDES))
def test_forward_marginal_matches_simulation(name):
    sde = SDES[name]
    n, record = 20000, (0.3, 1.0)
    x0 = torch.full((n, 1), 1.5, dtype=torch.float64)
    for t_end, xt in zip(record, simulate_forward(sde, x0, record, 1000, torch.Generator().manual_seed(0))):
        m, s = sde.marginal(torch.tensor([t_end], dtype=torch.float64))
        mean, std = float(m * 1.5), float(s)
        # sampling error: std / sqrt(n) for the mean, std / sqrt(2n) for the std; plus Euler's O(dt) bias
        assert abs(xt.mean().item() - mean) < 4 * std / math.sqrt(n) + 5e-3 * (abs(mean) + std), (t_end, xt.mean(), mean)
        assert abs(xt.std().item() - std) < 4 * std / math.sqrt(2 * n) + 5e-3 * std, (t_end, xt.std(), std)


@pytest.mark.parametrize("name", list(SDES))
def test_perturb_draws_the_marginal(name):
    sde = SDES[name]
    t = torch.full((50000,), 0.4, dtype=torch.float64)
    x0 = torch.full((50000, 1), -0.7, dtype=torch.float64)
    z = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    xt = sde.perturb(x0, t, z)
    m, s = sde.marginal(t[:1])
    assert torch.allclose(xt.mean(), m * -0.7, atol=4 * float(s) / 200)
    assert torch.allclose(xt.std(), s, rtol=0.02)


def test_closed_forms():
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    vp, svp, ve = VPSDE(), SubVPSDE(), VESDE(sigma_min=0.01, sigma_max=50.0)
    # VP: m^2 + s^2 = 1; log m = -(1/2) int_0^t beta
    m, s = vp.marginal(t)
    assert torch.allclose(m ** 2 + s ** 2, torch.ones(3, dtype=torch.float64))
    integral = 0.1 * t + 0.5 * t ** 2 * (20 - 0.1)
    assert torch.allclose(m, torch.exp(-0.5 * integral))
    # sub-VP: s = 1 - m^2 <= VP's s; g^2 = beta (1 - exp(-2 int beta))
    m2, s2 = svp.marginal(t)
    assert torch.allclose(m2, m) and torch.allclose(s2, 1 - m ** 2) and (s2 <= s + 1e-12).all()
    _, g = svp.drift_diffusion(torch.zeros(3, 1, dtype=torch.float64), t)
    assert torch.allclose(g ** 2, vp.beta(t) * (1 - torch.exp(-2 * integral)))
    # VE: sigma(t) geometric, g^2 = d sigma^2 / dt
    m3, s3 = ve.marginal(t)
    assert torch.allclose(s3, 0.01 * 5000.0 ** t) and torch.equal(m3, torch.ones(3, dtype=torch.float64))
    tt = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
    (dsig2,) = torch.autograd.grad(ve.sigma(tt) ** 2, tt)
    _, g = ve.drift_diffusion(torch.zeros(1, 1, dtype=torch.float64), tt.detach())
    assert torch.allclose(g ** 2, dsig2)
    assert torch.allclose(ve.time_of_sigma(ve.sigma(t)), t)


def test_discretize_steps_are_the_exact_kernels():
    """The reverse-diffusion predictor's forward steps compose to the marginal (VP and VE)."""
    for sde in (VPSDE(), VESDE(sigma_min=0.01, sigma_max=5.0)):
        x = torch.ones(1, 1, dtype=torch.float64)
        var, mean = 0.0, 1.0
        t0, steps = 0.2, 16
        m0, s0 = sde.marginal(torch.tensor([t0], dtype=torch.float64))
        mean, var = float(m0), float(s0) ** 2
        dt = (1.0 - t0) / steps
        for i in range(1, steps + 1):
            t = torch.tensor([t0 + i * dt], dtype=torch.float64)
            f, G = sde.discretize(x * mean, t, dt)
            a = float((x * mean + f) / (x * mean))
            mean, var = a * mean, a ** 2 * var + float(G) ** 2
        m1, s1 = sde.marginal(torch.tensor([1.0], dtype=torch.float64))
        assert mean == pytest.approx(float(m1), rel=1e-9) and var == pytest.approx(float(s1) ** 2, rel=1e-9)


def test_bad_names_and_parameters():
    with pytest.raises(gz.ConfigError, match="unknown sde"):
        make_sde("vpp")
    with pytest.raises(gz.ConfigError, match="sigma_min"):
        make_sde("ve", sigma_min=1.0, sigma_max=0.5)
    assert isinstance(make_sde("sub-vp"), SubVPSDE)
