"""Each adversarial loss: value against its written-out equation and the sign of its gradient."""
import pytest
import torch

from genzoo.objectives import gan_losses as L

REAL = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)
FAKE = torch.tensor([0.3, -2.0, 1.5], dtype=torch.float64)
sig = torch.sigmoid


def test_values_match_equations():
    r, f = REAL, FAKE
    assert torch.allclose(L.d_loss_minimax(r, f), -(sig(r).log().mean() + (1 - sig(f)).log().mean()))
    assert torch.allclose(L.g_loss_minimax(f), (1 - sig(f)).log().mean())
    assert torch.allclose(L.g_loss_ns(f), -sig(f).log().mean())
    assert torch.allclose(L.d_loss_hinge(r, f), torch.tensor((0 + 2 + 0.5) / 3 + (1.3 + 0 + 2.5) / 3, dtype=torch.float64))
    assert torch.allclose(L.g_loss_hinge(f), -f.mean())
    assert torch.allclose(L.d_loss_lsgan(r, f), 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f ** 2).mean())
    assert torch.allclose(L.g_loss_lsgan(f), 0.5 * ((f - 1) ** 2).mean())
    assert torch.allclose(L.d_loss_wasserstein(r, f), f.mean() - r.mean())
    assert torch.allclose(L.g_loss_wasserstein(f), -f.mean())


def test_minimax_is_finite_for_huge_logits():
    big = torch.tensor([80.0, -80.0])
    assert torch.isfinite(L.d_loss_minimax(big, -big)) and torch.isfinite(L.g_loss_ns(-big))


@pytest.mark.parametrize("name", list(L.LOSSES))
def test_gradient_signs(name):
    d_loss, g_loss = L.LOSSES[name]
    r = torch.tensor([0.2, -0.4], requires_grad=True)
    f = torch.tensor([0.3, 0.1], requires_grad=True)  # in every loss's active region (LSGAN pulls f to 0)
    gr, gf = torch.autograd.grad(d_loss(r, f), (r, f))
    assert (gr < 0).all(), "D must push real scores up"
    assert (gf > 0).all(), "D must push fake scores down"
    (gg,) = torch.autograd.grad(g_loss(f), f)
    assert (gg < 0).all(), "G must push fake scores up"


def test_saturation_of_minimax_generator():
    # when D confidently rejects fakes (f << 0) the minimax G gradient vanishes, the NS one does not
    f = torch.tensor([-8.0], requires_grad=True)
    (g_mm,) = torch.autograd.grad(L.g_loss_minimax(f), f)
    (g_ns,) = torch.autograd.grad(L.g_loss_ns(f), f)
    assert g_mm.abs() < 1e-3 < 0.99 < g_ns.abs()


def test_hinge_margin_has_zero_gradient():
    r = torch.tensor([1.5], requires_grad=True)
    f = torch.tensor([-1.5], requires_grad=True)
    gr, gf = torch.autograd.grad(L.d_loss_hinge(r, f), (r, f))
    assert gr.item() == 0 and gf.item() == 0


def _critic():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()


def test_gradient_penalty_equals_autograd_definition():
    net = _critic()
    critic = lambda x: net(x).squeeze(1)  # noqa: E731
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    alpha = torch.rand(5, generator=g, dtype=torch.float64)
    expected = []
    for i in range(5):  # one example at a time, straight from the definition
        x_hat = (alpha[i] * real[i] + (1 - alpha[i]) * fake[i]).requires_grad_(True)
        (grad,) = torch.autograd.grad(net(x_hat).sum(), x_hat)
        expected.append((grad.norm() - 1) ** 2)
    gp = L.gradient_penalty(critic, real, fake, alpha=alpha)
    assert torch.allclose(gp, torch.stack(expected).mean())
    gp.backward()  # trains the critic: create_graph kept the graph
    weights = [net[0].weight, net[0].bias, net[2].weight]  # the output bias does not move ∇ₓD
    assert all(p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0 for p in weights)


def test_penalties_of_a_linear_critic():
    w = torch.tensor([3.0, 4.0], dtype=torch.float64)   # ‖∇D‖ = 5 everywhere
    critic = lambda x: x @ w  # noqa: E731
    x = torch.randn(4, 2, dtype=torch.float64)
    assert torch.allclose(L.gradient_penalty(critic, x, -x), torch.tensor(16.0, dtype=torch.float64))
    assert torch.allclose(L.r1_penalty(critic, x), torch.tensor(12.5, dtype=torch.float64))
