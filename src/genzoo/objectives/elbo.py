"""Pure functions for latent-variable models: ELBO terms, IWAE, decoder likelihoods, diagnostics.

ELBO (Kingma & Welling 2013):   log p(x) >= E_q[log p(x|z)] - KL(q(z|x) || p(z))
Gaussian KL to N(0, I), per dim:  KL_d = ½ (μ_d² + σ_d² - 1 - log σ_d²)
β-VAE (Higgins et al. 2017):       weight the KL by β; KL warm-up (Bowman et al. 2016) ramps the
                                   weight linearly from 0 over the first steps
Free bits (Kingma et al. 2016):    Σ_d max(λ, E_batch KL_d): no gradient pushes a dimension below λ nats
IWAE (Burda et al. 2016):          L_k = E[log 1/k Σ_i p(x, z_i) / q(z_i|x)],  L_1 = ELBO <= L_k <= L_{k+1} -> log p(x)
Active units (Burda et al.):       A_u = Cov_x(E_q[u]) > 0.01
Mutual information I_q(x; z) = E_x E_q(z|x)[log q(z|x) - log q(z)] with the aggregate posterior
q(z) ≈ 1/N Σ_n q(z|x_n) over the batch (He et al. 2019, "Lagging inference networks").
Discretised logistic (Salimans et al. 2017, PixelCNN++): the mass of bin [x - b, x + b] of a
logistic, with the edge bins open to ±∞, for data in [-1, 1] with L levels (b = 1 / (L - 1)).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(μ, σ²) || N(0, 1)) elementwise (sum over the last dim for the total)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def log_normal(x: Tensor, mu: Tensor | float, logvar: Tensor | float) -> Tensor:
    """Elementwise log N(x; μ, σ²)."""
    logvar = torch.as_tensor(logvar, dtype=x.dtype, device=x.device)
    return -0.5 * (LOG_2PI + logvar + (x - mu).pow(2) * torch.exp(-logvar))


def kl_weight(step: int, beta: float = 1.0, warmup_steps: int = 0) -> float:
    """β times the linear warm-up factor min(1, step / warmup_steps)."""
    if warmup_steps <= 0:
        return beta
    return beta * min(1.0, step / warmup_steps)


def free_bits_kl(kl_per_dim: Tensor, free_bits: float = 0.0) -> Tensor:
    """Σ_d max(λ, mean_batch KL_d) from a (N, Z) tensor; plain Σ_d mean KL_d when λ = 0."""
    per_dim = kl_per_dim.mean(0)
    return per_dim.clamp_min(free_bits).sum() if free_bits > 0 else per_dim.sum()


def iwae_bound(log_weights: Tensor, dim: int = 0) -> Tensor:
    """log (1/k Σ_i w_i) from log-weights stacked along ``dim``."""
    return torch.logsumexp(log_weights, dim=dim) - math.log(log_weights.shape[dim])


def bernoulli_log_prob(x01: Tensor, logits: Tensor) -> Tensor:
    """Elementwise log Bernoulli(x | sigmoid(logits)) for x in {0, 1}."""
    return -F.binary_cross_entropy_with_logits(logits, x01, reduction="none")


def discretized_logistic_log_prob(x: Tensor, mean: Tensor, log_scale: Tensor, levels: int) -> Tensor:
    """Elementwise log-mass of the bin of x (in [-1, 1], L levels) under Logistic(mean, scale)."""
    b = 1.0 / (levels - 1)
    centered = x - mean
    inv_s = torch.exp(-log_scale)
    plus, minus = inv_s * (centered + b), inv_s * (centered - b)
    log_cdf_plus = F.logsigmoid(plus)            # bin open to -inf (x = -1)
    log_sf_minus = -F.softplus(minus)            # bin open to +inf (x = +1)
    delta = torch.sigmoid(plus) - torch.sigmoid(minus)
    mid = inv_s * centered                       # fallback when the bin mass underflows: pdf * width
    log_pdf_mid = mid - log_scale - 2.0 * F.softplus(mid) + math.log(2 * b)
    log_mid = torch.where(delta > 1e-5, torch.log(delta.clamp_min(1e-12)), log_pdf_mid)
    return torch.where(x < -1 + b, log_cdf_plus, torch.where(x > 1 - b, log_sf_minus, log_mid))


def active_units(mu: Tensor, threshold: float = 0.01) -> int:
    """Number of latent dims whose posterior mean varies across data: Var_x(E_q[z_d]) > threshold."""
    return int((mu.var(0) > threshold).sum()) if len(mu) > 1 else 0


def mutual_information(mu: Tensor, logvar: Tensor, z: Tensor) -> Tensor:
    """Batch estimate of I_q(x; z) with one z ~ q(z|x_n) per example, shape (N, Z)."""
    n = len(mu)
    log_q_own = log_normal(z, mu, logvar).sum(-1)                                    # log q(z_n | x_n)
    log_q_all = log_normal(z[:, None], mu[None], logvar[None]).sum(-1)               # log q(z_n | x_m)
    log_q_agg = torch.logsumexp(log_q_all, dim=1) - math.log(n)                      # log q(z_n)
    return (log_q_own - log_q_agg).mean()
