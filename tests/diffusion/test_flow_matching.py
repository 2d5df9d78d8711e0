"""Flow matching: the loss target, and with the exact velocity of Gaussian data plugged in, the ODE
likelihood equals the analytic log-density and the samplers recover the Gaussian."""
import math

import pytest
import torch
from torch import nn

import genzoo as gz


class GaussianVelocity(nn.Module):
    """E[eps - x0 | x_t = x] for x0 ~ N(m, s^2 I): -m + (t - (1-t) s^2) / sigma_t^2 (x - (1-t) m)."""

    def __init__(self, m: float, s: float):
        super().__init__()
        self.m, self.s = m, s

    def forward(self, x, t, class_labels=None):
        t = (torch.as_tensor(t, dtype=torch.float64) / 1000.0).reshape(-1)[0]
        var = (1 - t) ** 2 * self.s ** 2 + t ** 2
        return (-self.m + (t - (1 - t) * self.s ** 2) / var * (x.double() - (1 - t) * self.m)).to(x.dtype)


def gaussian_flow(m=0.5, s=0.6, tol=1e-7):
    model = gz.build("flow-matching", shape=(3,), hidden=8, depth=1, ode_rtol=tol, ode_atol=tol).eval()
    model.net = GaussianVelocity(m, s)
    return model


def test_ode_likelihood_equals_the_analytic_density():
    m, s = 0.5, 0.6
    model = gaussian_flow(m, s)
    x = (m + s * torch.randn(8, 3, generator=torch.Generator().manual_seed(0))).double().float()
    exact = (-0.5 * ((x - m) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)).sum(1)
    lp = model.log_prob(x)
    assert lp.shape == (8,)
    assert ((lp - exact).abs() / 3).max() < 1e-3, (lp - exact)


@pytest.mark.parametrize("sampler,steps", [("dopri5", None), ("heun", 10), ("euler", 100)])
def test_samplers_recover_the_gaussian(sampler, steps):
    x = gaussian_flow(tol=1e-5).sample(3000, generator=torch.Generator().manual_seed(1),
                                                              sampler=sampler, steps=steps)
    assert abs(x.mean().item() - 0.5) < 0.02 and abs(x.std().item() - 0.6) < 0.02, (x.mean(), x.std())


def test_loss_regresses_the_straight_line_velocity():
    torch.manual_seed(0)
    model = gz.build("flow-matching", shape=(2,), hidden=16, depth=1)
    x0 = torch.randn(10, 2)
    torch.manual_seed(3)
    loss = model.loss(x0)["loss"]
    torch.manual_seed(3)
    t = torch.rand(10)
    eps = torch.randn_like(x0)
    xt = (1 - t[:, None]) * x0 + t[:, None] * eps
    assert torch.allclose(loss, ((model.net(xt, t * 1000) - (eps - x0)) ** 2).mean(), atol=1e-6)
    with pytest.raises(gz.ConfigError, match="flow-matching sampler"):
        model.sample(2, sampler="ddim")
