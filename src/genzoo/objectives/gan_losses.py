"""Adversarial losses as pure functions of discriminator outputs (logits / critic values).

Notation: ``r = D(x)`` on real data, ``f = D(G(z))`` on generated data, σ the logistic sigmoid.
Every function returns a scalar to be *minimised* by the player it names (d_* by D, g_* by G).

- minimax (Goodfellow et al. 2014):  min_G max_D  E[log σ(r)] + E[log(1 − σ(f))]
- non-saturating (same paper, §3):   G minimises −E[log σ(f)] instead of E[log(1 − σ(f))]
- hinge (Lim & Ye 2017; Miyato et al. 2018)
- least squares (Mao et al. 2017, LSGAN with a=0, b=c=1)
- Wasserstein critic (Arjovsky et al. 2017) with gradient penalty (Gulrajani et al. 2017)
- R1 penalty on real data (Mescheder et al. 2018)

log σ(t) = −softplus(−t) and log(1 − σ(t)) = −softplus(t) keep everything finite for any logit.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ..nn.batch_noise import batch_rand


# --- minimax / non-saturating --------------------------------------------------------------
def d_loss_minimax(real: Tensor, fake: Tensor) -> Tensor:
    """L_D = −E[log σ(r)] − E[log(1 − σ(f))] = E[softplus(−r)] + E[softplus(f)]."""
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def g_loss_minimax(fake: Tensor) -> Tensor:
    """Saturating L_G = E[log(1 − σ(f))] = −E[softplus(f)]; its gradient vanishes when D wins."""
    return -F.softplus(fake).mean()


def g_loss_ns(fake: Tensor) -> Tensor:
    """Non-saturating L_G = −E[log σ(f)] = E[softplus(−f)]."""
    return F.softplus(-fake).mean()


# --- hinge -----------------------------------------------------------------------------------
def d_loss_hinge(real: Tensor, fake: Tensor) -> Tensor:
    """L_D = E[max(0, 1 − r)] + E[max(0, 1 + f)]."""
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def g_loss_hinge(fake: Tensor) -> Tensor:
    """L_G = −E[f]."""
    return -fake.mean()


# --- least squares ---------------------------------------------------------------------------
def d_loss_lsgan(real: Tensor, fake: Tensor) -> Tensor:
    """L_D = ½ E[(r − 1)²] + ½ E[f²]."""
    return 0.5 * (real - 1.0).pow(2).mean() + 0.5 * fake.pow(2).mean()


def g_loss_lsgan(fake: Tensor) -> Tensor:
    """L_G = ½ E[(f − 1)²]."""
    return 0.5 * (fake - 1.0).pow(2).mean()


# --- Wasserstein -----------------------------------------------------------------------------
def d_loss_wasserstein(real: Tensor, fake: Tensor) -> Tensor:
    """Critic loss L_D = E[f] − E[r] (the negated Kantorovich–Rubinstein estimate of W₁)."""
    return fake.mean() - real.mean()


def g_loss_wasserstein(fake: Tensor) -> Tensor:
    """L_G = −E[f]."""
    return -fake.mean()


# --- penalties -------------------------------------------------------------------------------
def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, *,
                     alpha: Tensor | None = None, center: float = 1.0) -> Tensor:
    """WGAN-GP: E_x̂[(‖∇_x̂ D(x̂)‖₂ − 1)²] with x̂ = α x + (1 − α) x̃, α ~ U[0, 1] per example.

    ``alpha`` (shape (N,)) may be given for reproducibility; otherwise it is drawn from the global
    RNG (training noise). The graph is kept so the penalty trains D (create_graph=True).
    """
    if alpha is None:
        alpha = batch_rand(real.shape[0], device=real.device, dtype=real.dtype)
    alpha = alpha.view(-1, *([1] * (real.dim() - 1)))
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - center).pow(2).mean()


def r1_penalty(critic: Callable[[Tensor], Tensor], real: Tensor) -> Tensor:
    """R1 = ½ E_x[‖∇_x D(x)‖²] on real data (multiply by γ outside)."""
    x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return 0.5 * grad.flatten(1).pow(2).sum(1).mean()


#: ``loss name -> (discriminator loss, generator loss)``; "wgan-gp" adds the gradient penalty.
LOSSES: dict[str, tuple[Callable[[Tensor, Tensor], Tensor], Callable[[Tensor], Tensor]]] = {
    "minimax": (d_loss_minimax, g_loss_minimax),
    "ns": (d_loss_minimax, g_loss_ns),
    "hinge": (d_loss_hinge, g_loss_hinge),
    "lsgan": (d_loss_lsgan, g_loss_lsgan),
    "wgan-gp": (d_loss_wasserstein, g_loss_wasserstein),
}
