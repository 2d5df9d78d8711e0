"""Score-matching objectives: fit s_θ(x) ≈ ∇ₓ log p(x) without the normaliser (for an energy model
s_θ = −∇ₓE_θ). ``score_fn(x)`` must be differentiable in x (create_graph is used).

- Sliced score matching (Song et al. 2019), projections v with E[vvᵀ] = I:
      J(θ) = E_x E_v [ vᵀ ∇ₓ(vᵀ s_θ(x)) + ½ (vᵀ s_θ(x))² ]
  which equals Hyvärinen's  E[tr ∇ₓ s_θ(x) + ½‖s_θ(x)‖²]  in expectation over v.
- Denoising score matching (Vincent 2011), x̃ = x + σε:
      J(θ) = E ½ ‖s_θ(x̃) + (x̃ − x)/σ²‖² · σ²     (the σ² weighting of Song & Ermon 2019)
  whose minimiser is the score of the σ-smoothed data density.
Noise comes from torch's global RNG (training noise; the Trainer seeds it).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Score = Callable[[Tensor], Tensor]


def sliced_score_matching(score_fn: Score, x: Tensor, n_projections: int = 1, *, variance_reduced: bool = False,
                          v: Tensor | None = None) -> Tensor:
    """SSM loss; ``variance_reduced`` uses the analytic ½‖s‖² term (SSM-VR); ``v``: (P, N, ...) projections."""
    x = x.detach().requires_grad_(True)
    s = score_fn(x)
    if v is None:
        v = torch.randn(n_projections, *x.shape, device=x.device, dtype=x.dtype)
    total = x.new_zeros(())
    for vp in v:
        vs = (vp * s).flatten(1).sum(1)                                   # vᵀ s, (N,)
        (grad_vs,) = torch.autograd.grad(vs.sum(), x, create_graph=True)  # ∇ₓ(vᵀ s)
        jac_term = (vp * grad_vs).flatten(1).sum(1)                       # vᵀ ∇ₓ(vᵀ s)
        norm_term = 0.5 * s.flatten(1).pow(2).sum(1) if variance_reduced else 0.5 * vs ** 2
        total = total + (jac_term + norm_term).mean()
    return total / len(v)


def denoising_score_matching(score_fn: Score, x: Tensor, sigma: float, *, noise: Tensor | None = None) -> Tensor:
    """DSM loss at noise level σ (σ²-weighted, so its scale does not depend on σ)."""
    eps = torch.randn_like(x) if noise is None else noise
    x_tilde = x + sigma * eps
    target = -eps / sigma                                                  # −(x̃ − x)/σ²
    return 0.5 * sigma ** 2 * (score_fn(x_tilde) - target).flatten(1).pow(2).sum(1).mean()


def energy_score(energy_fn: Callable[[Tensor], Tensor]) -> Score:
    """The score −∇ₓE(x) of an energy, differentiable in θ and x (create_graph=True)."""

    def score(x: Tensor) -> Tensor:
        if not x.requires_grad:
            x = x.requires_grad_(True)
        (g,) = torch.autograd.grad(energy_fn(x).sum(), x, create_graph=True)
        return -g

    return score
