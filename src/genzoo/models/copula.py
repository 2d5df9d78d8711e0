"""Gaussian copula (the baseline of SDV's ``GaussianCopulaSynthesizer``; Nelsen 2006, ch. 2).

Each dimension d has a marginal CDF F_d, a mixture of the empirical CDF (piecewise linear between
``knots`` quantiles of the training data) and a wide Gaussian N(mu_d, sigma_d^2) of weight ``tail``
(so the density is positive everywhere):

    F_d(x) = (1 - tail) F_emp,d(x) + tail Phi((x - mu_d) / sigma_d)
    z_d    = Phi^-1(F_d(x_d))                          (normal scores)
    log p(x) = log N(z; 0, R) - log N(z; 0, I) + sum_d log f_d(x_d)

R is a correlation matrix, R = L~ L~^T with L~ the row-normalised lower-triangular parameter.
Sampling: z ~ N(0, R), x_d = F_d^-1(Phi(z_d)) by bisection. ``attach_data`` (``gz.build`` with a
dataset) fits everything in closed form (marginals from the training rows, R the correlation of
their normal scores); the Trainer's few steps then maximise the likelihood of R (a no-op near
that optimum). Without data the marginals come from the first batch and R starts at I.
On tables (``data/tables.py``) it models the encoded rows; conditioning is by rejection sampling.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..model import GenerativeModel, ModelConfig
from ..registry import register_model
from ..utils import model_device, randn, unpack_batch
from .gaussian import flatten_examples

_NORMAL = torch.distributions.Normal(0.0, 1.0)


@dataclass
class CopulaConfig(ModelConfig):
    shape: tuple[int, ...] = (2,)
    knots: int = 64       # quantile knots of each empirical marginal
    tail: float = 0.01    # weight of the Gaussian part of each marginal


@register_model("gaussian-copula")
class GaussianCopula(GenerativeModel):
    config_class = CopulaConfig
    data_kinds = ("2d", "tabular")
    log_prob_kind = "exact"
    default_budget = {"steps": 50, "batch_size": 256, "lr": 1e-3}

    def __init__(self, config: CopulaConfig):
        super().__init__(config)
        d = self.dim
        self.register_buffer("knots", torch.linspace(-3, 3, config.knots).repeat(d, 1))
        self.register_buffer("mu", torch.zeros(d))
        self.register_buffer("sigma", torch.ones(d))
        self.register_buffer("initialized", torch.tensor(False))
        self.lower = nn.Parameter(torch.eye(d))

    @property
    def dim(self) -> int:
        return math.prod(self.config.shape)

    @classmethod
    def config_for_data(cls, data, **overrides: Any) -> CopulaConfig:
        base = {} if data is None else {"shape": tuple(data.shape)}
        return CopulaConfig.from_dict({**base, **overrides})

    @classmethod
    def contract_fixture(cls):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(64, 2, generator=g)
        return CopulaConfig(shape=(2,), knots=16), torch.stack([x[:, 0], x[:, 0] + 0.3 * x[:, 1]], 1)

    def _flatten(self, x: Tensor) -> Tensor:
        return flatten_examples(self, x, self.knots.dtype)

    # --- marginals ---------------------------------------------------------------------------------
    @torch.no_grad()
    def fit_marginals(self, x: Tensor) -> None:
        q = torch.linspace(0, 1, self.config.knots, dtype=x.dtype)
        knots = torch.quantile(x, q, dim=0).T  # (D, Q)
        spread = (knots[:, -1:] - knots[:, :1]).clamp_min(1e-3)
        self.knots.copy_(knots + torch.arange(self.config.knots) * 1e-4 * spread)  # strictly increasing
        self.mu.copy_(x.mean(0))
        self.sigma.copy_(x.std(0).clamp_min(1e-3) * 2)
        self.initialized.fill_(True)

    def _cdf_pdf(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """F_d(x_d) and f_d(x_d) for (N, D) x."""
        k = self.knots  # (D, Q)
        q = k.shape[1]
        idx = torch.searchsorted(k.contiguous(), x.T.contiguous()).T.clamp(1, q - 1)  # (N, D) right knot
        left, right = k.gather(1, (idx - 1).T).T, k.gather(1, idx.T).T
        width = right - left
        frac = ((x - left) / width).clamp(0, 1)
        inside = (x >= k[:, 0]) & (x <= k[:, -1])
        emp_cdf = ((idx - 1) + frac) / (q - 1)
        emp_pdf = inside / (width * (q - 1))
        t = self.config.tail
        zs = (x - self.mu) / self.sigma
        cdf = (1 - t) * emp_cdf + t * _NORMAL.cdf(zs)
        pdf = (1 - t) * emp_pdf + t * _NORMAL.log_prob(zs).exp() / self.sigma
        return cdf, pdf

    def _quantile(self, u: Tensor, iters: int = 40) -> Tensor:
        lo = torch.minimum(self.knots[:, 0], self.mu - 10 * self.sigma).expand_as(u).clone()
        hi = torch.maximum(self.knots[:, -1], self.mu + 10 * self.sigma).expand_as(u).clone()
        for _ in range(iters):
            mid = (lo + hi) / 2
            below = self._cdf_pdf(mid)[0] < u
            lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
        return (lo + hi) / 2

    # --- copula ------------------------------------------------------------------------------------
    def correlation_factor(self) -> Tensor:
        low = torch.tril(self.lower)
        return low / low.norm(dim=1, keepdim=True).clamp_min(1e-12)

    def normal_scores(self, x: Tensor) -> tuple[Tensor, Tensor]:
        cdf, pdf = self._cdf_pdf(x)
        return _NORMAL.icdf(cdf.clamp(1e-6, 1 - 1e-6)), pdf

    def log_prob(self, x: Tensor) -> Tensor:
        x = self._flatten(x)
        z, pdf = self.normal_scores(x)
        L = self.correlation_factor()
        w = torch.linalg.solve_triangular(L, z.T, upper=False).T
        log_det = L.diagonal().abs().clamp_min(1e-12).log().sum()
        return -0.5 * (w.pow(2) - z.pow(2)).sum(1) - log_det + pdf.clamp_min(1e-30).log().sum(1)

    @torch.no_grad()
    def fit_copula(self, x: Tensor) -> None:
        """Closed form: marginals from x, R = corr(normal scores) (shrunk 1e-3 towards I)."""
        self.fit_marginals(x)
        z, _ = self.normal_scores(x)
        r = torch.corrcoef(z.T) if self.dim > 1 else torch.ones(1, 1)
        r = torch.nan_to_num(r) * (1 - 1e-3) + 1e-3 * torch.eye(self.dim)
        r.fill_diagonal_(1.0)
        self.lower.copy_(torch.linalg.cholesky(r))

    def attach_data(self, data) -> None:
        x = data.batch(torch.arange(len(data)))  # the Trainer's view (tables: one-hots dequantised)
        self.fit_copula(self._flatten(unpack_batch(x)[0].float()))

    def loss(self, batch) -> dict[str, Tensor]:
        x = self._flatten(unpack_batch(batch)[0])
        if not bool(self.initialized):
            self.fit_marginals(x)
        nll = -self.log_prob(x).mean()
        return {"loss": nll, "nll": nll.detach()}

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, **kw) -> Tensor:
        eps = randn((n, self.dim), generator=generator, device=model_device(self))
        z = eps @ self.correlation_factor().T
        x = self._quantile(_NORMAL.cdf(z))
        return x.reshape(n, *self.config.shape)
