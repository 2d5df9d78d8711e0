"""The spline's hand-derived backward (``spline_forward.py``) against autograd of the same ops, in float64."""
import pytest
import torch

from genzoo.models.flows import spline_forward
from genzoo.models.flows.spline import rq_spline


def _inputs(k=6, bound=3.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(9, 3, generator=g, dtype=torch.float64) * 2  # some beyond the bound: the tails
    x[0, 0], x[1, 1] = bound + 0.5, -bound - 1.0
    p = torch.randn(9, 3, 3 * k - 1, generator=g, dtype=torch.float64) * 1.5
    return x.requires_grad_(), p.requires_grad_()


def _plain(x, p, bound=3.0):
    """The same map with every op recorded by autograd (no custom node)."""
    y, ld = spline_forward._plain(x.clamp(-bound, bound), p, bound, 1e-3, 1e-3)[:2]
    inside = x.abs() < bound
    return torch.where(inside, y, x), torch.where(inside, ld, 0.0)


def test_fused_forward_is_one_node_with_the_plain_values_and_gradients():
    x, p = _inputs()
    y, ld = rq_spline(x, p, bound=3.0)
    y2, ld2 = _plain(x, p)
    torch.testing.assert_close((y, ld), (y2, ld2), rtol=0, atol=1e-12)
    w = torch.randn(2, *x.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    g = torch.autograd.grad((y * w[0] + ld * w[1]).sum(), (x, p))
    g2 = torch.autograd.grad((y2 * w[0] + ld2 * w[1]).sum(), (x, p))
    torch.testing.assert_close(g, g2, rtol=1e-10, atol=1e-12)
    inside = rq_spline(x.detach().clamp(-2.9, 2.9).requires_grad_(), p, bound=3.0)[0]
    assert "RQForward" in type(inside.grad_fn).__name__  # the custom node is what ran


@pytest.mark.parametrize("wrt", ["both", "x", "params"])
def test_gradcheck_and_second_order(wrt):
    x, p = _inputs(k=4, seed=1)
    if wrt == "x":
        fn, args = (lambda x: rq_spline(x, p.detach(), bound=3.0)), (x,)
    elif wrt == "params":
        fn, args = (lambda p: rq_spline(x.detach(), p, bound=3.0)), (p,)
    else:
        fn, args = (lambda x, p: rq_spline(x, p, bound=3.0)), (x, p)
    assert torch.autograd.gradcheck(fn, args)
    assert torch.autograd.gradgradcheck(fn, args)  # create_graph differentiates the plain ops


def test_per_example_gradients_under_torch_func():
    """vmap(grad) (the DP engines' path) uses the plain ops and equals a loop of single-example grads."""
    x, p = _inputs(seed=2)
    x, p = x.detach(), p.detach()

    def loss(p_row, x_row):
        y, ld = rq_spline(x_row, p_row, bound=3.0)
        return (y * y).sum() - ld.sum()

    batched = torch.func.vmap(torch.func.grad(loss))(p, x)
    looped = []
    for p_row, x_row in zip(p, x):
        p_row = p_row.clone().requires_grad_()
        looped.append(torch.autograd.grad(loss(p_row, x_row), p_row)[0])
    torch.testing.assert_close(batched, torch.stack(looped), rtol=1e-10, atol=1e-12)
