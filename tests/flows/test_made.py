"""MADE: the autoregressive property, checked on the autograd Jacobian."""
import pytest
import torch

from genzoo.nn.made import MADE, MaskedLinear, made_masks


def dependency(made, x, context=None):
    """(D*k, D) boolean: does output o depend on input d (nonzero Jacobian entry)?"""
    fn = lambda inp: made(inp, context).reshape(-1)
    return torch.autograd.functional.jacobian(fn, x).abs() > 0


@pytest.mark.parametrize("order", [None, [3, 1, 4, 2], [1, 1, 2, 2], [2, 2, 2, 2]])
@pytest.mark.parametrize("k", [1, 3])
def test_outputs_depend_only_on_earlier_inputs(order, k):
    torch.manual_seed(0)
    made = MADE(4, (16, 16), num_outputs_per_input=k, order=order, activation=torch.nn.Tanh).double()
    x = torch.randn(4, dtype=torch.float64)
    dep = dependency(made, x)
    deg = made.order
    allowed = deg.repeat_interleave(k)[:, None] > deg[None, :]
    assert not (dep & ~allowed).any(), "an output sees an input of equal or larger degree"
    # with enough hidden units every allowed connection exists
    assert (dep == allowed).all()


def test_context_reaches_every_output():
    torch.manual_seed(0)
    made = MADE(3, (8,), num_outputs_per_input=2, context_features=2, activation=torch.nn.Tanh).double()
    x, c = torch.randn(3, dtype=torch.float64), torch.randn(2, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda cc: made(x, cc).reshape(-1), c)
    assert (jac.abs() > 0).all()
    assert made(x[None].expand(5, 3), c).shape == (5, 3, 2)
    with pytest.raises(ValueError):
        made(x)


def test_masked_linear_is_linear_with_masked_weight():
    mask = made_masks([1, 2], (3,))[0]
    layer = MaskedLinear(mask)
    x = torch.randn(5, 2)
    assert torch.allclose(layer(x), x @ (layer.weight * mask).T + layer.bias)
    assert "mask" not in layer.state_dict()  # rebuilt from the config, not saved


def test_single_feature_depends_on_context_only():
    made = MADE(1, (4,), num_outputs_per_input=2, context_features=1)
    assert made(torch.zeros(2, 1), torch.ones(2, 1)).shape == (2, 1, 2)
    assert made.num_steps == 1
