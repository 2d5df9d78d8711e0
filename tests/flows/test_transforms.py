"""Contract of every transform, in float64 (zuko-style):

- inverse(forward(x)) == x to 1e-6 (and forward(inverse(z)) == z),
- forward's log-det equals log|det J| of the autograd Jacobian, inverse's is its negative,
- a 1-D / 2-D flow's density integrates to 1 on a grid.
"""
import math

import pytest
import torch

from genzoo.models.flows.ffjord import CNF, FFJORDConfig
from genzoo.models.flows import (ActNorm, Affine, Compose, Coupling, Elementwise, Flow, ImageCoupling, Invert,
                                 InvertibleConv1x1, MaskedAutoregressive, MultiScale, Permutation, Reverse,
                                 RQSpline, Squeeze)

D = 4
IMG = (2, 4, 4)


def randomise(t, scale=0.5):
    """Move every parameter away from its (identity) init so the test is not trivial."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in t.parameters():
            p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)
    return t


def actnorm_vec():
    t = ActNorm(D).double()
    t(torch.randn(16, D, dtype=torch.float64) * 2 + 1)  # data-dependent init (training mode)
    return t


TRANSFORMS = {
    "affine-coupling": (lambda: Coupling([True, False, True, False], Affine(), (16,)), (D,)),
    "spline-coupling": (lambda: Coupling([True, True, False, False], RQSpline(5, 3.0), (16,)), (D,)),
    "maf-affine": (lambda: MaskedAutoregressive(D, Affine(), (16, 16)), (D,)),
    "maf-spline": (lambda: MaskedAutoregressive(D, RQSpline(6, 3.0), (16, 16), order=[2, 4, 1, 3]), (D,)),
    "iaf-affine": (lambda: Invert(MaskedAutoregressive(D, Affine(), (16,))), (D,)),
    "iaf-spline": (lambda: Invert(MaskedAutoregressive(D, RQSpline(4, 3.0), (16,))), (D,)),
    "elementwise-spline": (lambda: Elementwise(D, RQSpline(7, 2.0)), (D,)),
    "permutation": (lambda: Permutation.random(D, seed=3), (D,)),
    "reverse": (lambda: Reverse(D), (D,)),
    "actnorm": (actnorm_vec, (D,)),
    "invconv-vector": (lambda: InvertibleConv1x1(D), (D,)),
    # conv conditioners amplify parameter noise: perturb them less (see build)
    "checkerboard-affine": (lambda: ImageCoupling(IMG, "checkerboard", 1, Affine(), hidden=8, blocks=1), IMG),
    "channel-spline": (lambda: ImageCoupling(IMG, "channel", 0, RQSpline(4, 3.0), hidden=8, blocks=1), IMG),
    "actnorm-image": (lambda: ActNorm(IMG[0]), IMG),
    "invconv-image": (lambda: InvertibleConv1x1(IMG[0], seed=2), IMG),
    "squeeze": (lambda: Squeeze(), IMG),
    "cnf-exact-trace": (lambda: CNF(2, FFJORDConfig(shape=(2,), hidden=(8,), rtol=1e-8, atol=1e-8)), (2,)),
    "multiscale": (lambda: Compose(Squeeze(), MultiScale(4, Compose(InvertibleConv1x1(4), ActNorm(4)))), IMG),
}


def build(name):
    torch.manual_seed(0)
    make, shape = TRANSFORMS[name]
    t = make().double()
    t = randomise(t, 0.1 if isinstance(t, (ImageCoupling, CNF)) else 0.5)  # conv nets / ODEs amplify noise
    return t.eval(), shape


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_inverse_round_trip(name):
    t, shape = build(name)
    x = torch.randn(8, *shape, dtype=torch.float64) * 2  # some spline inputs beyond the bound (tails)
    z, ld = t(x)
    x2, ld_inv = t.inverse(z)
    assert z.numel() == x.numel() and ld.shape == (8,)
    torch.testing.assert_close(x2, x, atol=1e-6, rtol=0)
    torch.testing.assert_close(ld_inv, -ld, atol=1e-6, rtol=0)
    z2, _ = t(t.inverse(z)[0])
    torch.testing.assert_close(z2, z, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_logdet_matches_autograd_jacobian(name):
    t, shape = build(name)
    xs = torch.randn(3, *shape, dtype=torch.float64) * 1.5
    _, lds = t(xs)
    for x, ld in zip(xs, lds):
        jac = torch.autograd.functional.jacobian(lambda v: t(v[None])[0].reshape(-1), x).reshape(x.numel(), x.numel())
        sign, logabs = torch.linalg.slogdet(jac)
        assert sign != 0
        torch.testing.assert_close(ld, logabs, atol=1e-6, rtol=1e-6)
        # torch.logdet on |det| (sign-free): same number
        torch.testing.assert_close(ld, torch.logdet(jac * sign.sign() if jac.shape[0] == 1 else jac @ jac.T) / (1 if jac.shape[0] == 1 else 2), atol=1e-6, rtol=1e-6)


def test_spline_tails_are_identity_and_continuous():
    spline = RQSpline(6, 2.0)
    p = torch.randn(5, 17, dtype=torch.float64)
    x = torch.tensor([-3.0, -2.0, 2.0, 2.5, -2.0 + 1e-9], dtype=torch.float64)
    y, ld = spline(x, p)
    assert torch.equal(y[[0, 3]], x[[0, 3]]) and (ld[[0, 3]] == 0).all()
    torch.testing.assert_close(y[1:3], x[1:3], atol=1e-12, rtol=0)  # knots at ±B are fixed
    torch.testing.assert_close(ld[4], torch.tensor(0.0, dtype=torch.float64), atol=1e-6, rtol=0)  # slope 1 at the bound


def test_spline_with_zero_params_is_identity():
    x = torch.linspace(-4, 4, 50, dtype=torch.float64)
    y, ld = RQSpline(8, 3.0)(x, torch.zeros(50, 23, dtype=torch.float64))
    torch.testing.assert_close(y, x, atol=1e-12, rtol=0)
    torch.testing.assert_close(ld, torch.zeros_like(x), atol=1e-12, rtol=0)


def test_actnorm_data_dependent_init():
    t = ActNorm(3).double()
    x = torch.randn(500, 3, 4, 4, dtype=torch.float64) * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)[:, None, None] + 5
    z, _ = t(x)
    torch.testing.assert_close(z.mean((0, 2, 3)), torch.zeros(3, dtype=torch.float64), atol=1e-9, rtol=0)
    torch.testing.assert_close(z.std((0, 2, 3)), torch.ones(3, dtype=torch.float64), atol=1e-5, rtol=0)
    before = t.loc.clone()
    t(x + 10)
    assert torch.equal(t.loc, before)  # initialised once only


def integrate_2d(flow, lim=12.0, n=500):
    g = torch.linspace(-lim, lim, n, dtype=torch.float64)
    xx, yy = torch.meshgrid(g, g, indexing="ij")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
    with torch.no_grad():
        p = flow.log_prob(pts).exp()
    return p.sum().item() * (g[1] - g[0]).item() ** 2


@pytest.mark.parametrize("kind", ["nsf", "maf", "realnvp"])
def test_2d_density_integrates_to_one(kind):
    torch.manual_seed(0)
    if kind == "nsf":
        layers = [MaskedAutoregressive(2, RQSpline(6, 3.0), (16,)), Reverse(2), MaskedAutoregressive(2, RQSpline(6, 3.0), (16,))]
    elif kind == "maf":
        layers = [MaskedAutoregressive(2, Affine(0.5), (16,)), Reverse(2), MaskedAutoregressive(2, Affine(0.5), (16,))]
    else:
        layers = [Coupling([True, False], Affine(0.5), (16,)), Coupling([False, True], Affine(0.5), (16,)), InvertibleConv1x1(2)]
    flow = Flow(randomise(Compose(*layers), 0.3).double(), (2,))
    lim = 6.0 if kind == "nsf" else 12.0  # splines are identity beyond the bound; affine flows spread wider
    assert abs(integrate_2d(flow, lim) - 1) < 2e-3


def test_1d_spline_density_integrates_to_one():
    flow = Flow(randomise(Elementwise(1, RQSpline(8, 2.0)), 1.0).double(), (1,))
    x = torch.linspace(-9, 9, 20001, dtype=torch.float64)[:, None]
    with torch.no_grad():
        p = flow.log_prob(x).exp()
    assert abs(torch.trapezoid(p, x[:, 0]).item() - 1) < 1e-6


def test_flow_sample_inverts_log_prob():
    torch.manual_seed(0)
    flow = Flow(randomise(Compose(MaskedAutoregressive(3, Affine(), (8,)), Reverse(3))).double(), (3,))
    x, lp = flow.sample_and_log_prob(5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(flow.log_prob(x), lp, atol=1e-9, rtol=0)
    a = flow.sample(4, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, flow.sample(4, generator=torch.Generator().manual_seed(7)))
