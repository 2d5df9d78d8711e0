"""Sliced and denoising score matching against closed forms."""
import math

import torch

from genzoo.objectives.score_matching import denoising_score_matching, energy_score, sliced_score_matching


def test_sliced_equals_hyvarinen_with_a_scaled_basis():
    # projections v = √D e_i satisfy E[v vᵀ] = I, so SSM averaged over them is exact:
    # J = E[tr ∇s + ½‖s‖²]; for s(x) = −A x: tr ∇s = −tr A.
    torch.manual_seed(0)
    A = torch.tensor([[2.0, 0.3], [0.3, 0.5]], dtype=torch.float64)
    energy = lambda x: 0.5 * ((x @ A) * x).sum(1)  # noqa: E731
    x = torch.randn(64, 2, dtype=torch.float64)
    v = math.sqrt(2) * torch.eye(2, dtype=torch.float64)[:, None, :].expand(2, 64, 2)
    ssm = sliced_score_matching(energy_score(energy), x, v=v)
    exact = (-A.trace() + 0.5 * (x @ A).pow(2).sum(1)).mean()
    assert torch.allclose(ssm, exact)
    vr = sliced_score_matching(energy_score(energy), x, v=v, variance_reduced=True)
    assert torch.allclose(vr, exact)


def test_denoising_minimiser_is_the_smoothed_score():
    # data N(0, I), model energy ‖x‖²/(2τ²): DSM is minimised at τ² = 1 + σ²
    g = torch.Generator().manual_seed(0)
    x, noise, sigma = torch.randn(20000, 2, generator=g), torch.randn(20000, 2, generator=g), 0.5
    taus = torch.linspace(0.8, 1.4, 61)
    losses = [denoising_score_matching(energy_score(lambda u, t=t: 0.5 * u.pow(2).sum(1) / t ** 2), x, sigma, noise=noise)
              for t in taus]
    best = taus[torch.stack(losses).argmin()].item()
    assert abs(best - math.sqrt(1 + sigma ** 2)) < 0.03, best


def test_score_matching_trains_the_energy():
    energy_w = torch.tensor(0.2, requires_grad=True)  # E = w‖x‖²/2: the loss must push w towards 1
    x = torch.randn(256, 2)
    loss = sliced_score_matching(energy_score(lambda u: energy_w * 0.5 * u.pow(2).sum(1)), x, 4)
    (g,) = torch.autograd.grad(loss, energy_w)
    assert g < 0
