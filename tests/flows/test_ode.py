"""ODE solvers against closed-form solutions."""
import math

import pytest
import torch

from genzoo.samplers.ode import dopri5, odeint, rk4


def rotation(t, y):
    return torch.stack([-y[:, 1], y[:, 0]], 1)


def exact_rotation(y0, t):
    c, s = math.cos(t), math.sin(t)
    return torch.stack([c * y0[:, 0] - s * y0[:, 1], s * y0[:, 0] + c * y0[:, 1]], 1)


@pytest.mark.parametrize("t1", [2.0, -1.5])
def test_dopri5_meets_tolerance_both_directions(t1):
    y0 = torch.randn(4, 2, dtype=torch.float64)
    y = dopri5(rotation, y0, 0.0, t1, rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(y, exact_rotation(y0, t1), atol=1e-6, rtol=0)


def test_rk4_is_fourth_order():
    y0 = torch.ones(1, 1, dtype=torch.float64)
    f = lambda t, y: -2 * t * y  # y = exp(-t^2)
    errs = [(rk4(f, y0, 0.0, 1.0, steps=n) - math.exp(-1)).abs().item() for n in (8, 16)]
    assert 12 < errs[0] / errs[1] < 20  # ~2^4


def test_gradients_flow_through_the_solver():
    a = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    y = odeint(lambda t, y: a * y, torch.ones(1, dtype=torch.float64), 0.0, 1.0, rtol=1e-9, atol=1e-9)
    y.sum().backward()
    assert abs(a.grad.item() - math.exp(0.7)) < 1e-6  # d/da e^a
