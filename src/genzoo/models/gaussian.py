"""Baseline family: a full-covariance Gaussian or a K-component Gaussian mixture.

    p(x) = Σ_k π_k N(x; μ_k, L_k L_kᵀ),   log N(x; μ, LLᵀ) = -½‖L⁻¹(x-μ)‖² - Σ_i log L_ii - (D/2) log 2π

Trained by maximum likelihood (loss = -mean log p(x)) with the shared Trainer; means are initialised
by a few k-means (Lloyd) iterations on the first batch, like ActNorm's data-dependent init.
For quantised data (``levels``) the loss adds uniform dequantisation noise of one bin width, so
log p is a density on the [-1, 1]-scaled data (the bpd metric adds D log Δ).
It is the floor of the leaderboard: every other family should beat it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import DataError
from ..model import GenerativeModel, ModelConfig
from ..registry import register_model
from ..utils import rand, randn, unpack_batch
from ..nn.batch_noise import batch_rand_like


@dataclass
class GaussianConfig(ModelConfig):
    shape: tuple[int, ...] = (2,)
    n_components: int = 1
    min_std: float = 1e-3
    levels: int | None = None  # quantised data: dequantise with uniform noise in the loss


def kmeans(x: Tensor, k: int, iters: int = 10) -> Tensor:
    """Lloyd's algorithm from a deterministic farthest-point start (no randomness needed)."""
    centres = [x[(x - x.mean(0)).norm(dim=1).argmax()]]
    for _ in range(1, k):
        d = torch.cdist(x, torch.stack(centres)).min(1).values
        centres.append(x[d.argmax()])
    c = torch.stack(centres)
    for _ in range(iters):
        assign = torch.cdist(x, c).argmin(1)
        for j in range(k):
            members = x[assign == j]
            if len(members):
                c[j] = members.mean(0)
    return c


def flatten_examples(model, x: Tensor, dtype: torch.dtype) -> Tensor:
    """(N, *shape) examples as (N, D) rows of ``dtype``; another shape is a one-line DataError."""
    if tuple(x.shape[1:]) != tuple(model.config.shape):
        raise DataError(f"{model.model_type} expects examples of shape {tuple(model.config.shape)}, got "
                        f"{tuple(x.shape[1:])}; rebuild the model for this data")
    return x.reshape(len(x), -1).to(dtype)


@register_model("gaussian")
class GaussianMixture(GenerativeModel):
    config_class = GaussianConfig
    data_kinds = ("2d", "image", "tabular")
    log_prob_kind = "exact"
    default_budget = {"steps": 500, "batch_size": 256, "lr": 3e-2}

    def __init__(self, config: GaussianConfig):
        super().__init__(config)
        d, k = self.dim, config.n_components
        self.means = nn.Parameter(torch.zeros(k, d))
        self.raw_diag = nn.Parameter(torch.zeros(k, d))  # log of the Cholesky diagonal
        self.lower = nn.Parameter(torch.zeros(k, d, d))  # strictly lower part of the Cholesky factor
        self.logits = nn.Parameter(torch.zeros(k))
        self.register_buffer("initialized", torch.tensor(False))

    @property
    def dim(self) -> int:
        return math.prod(self.config.shape)

    @classmethod
    def config_for_data(cls, data, **overrides) -> GaussianConfig:
        base = {} if data is None else {"shape": tuple(data.shape), "levels": data.levels}
        return GaussianConfig.from_dict({**base, **overrides})

    @classmethod
    def contract_fixture(cls):
        return GaussianConfig(shape=(2,), n_components=2), torch.randn(16, 2, generator=torch.Generator().manual_seed(0))

    def scale_tril(self) -> Tensor:
        diag = self.config.min_std + F.softplus(self.raw_diag + math.log(math.e - 1))  # = 1 + min_std at init
        return torch.tril(self.lower, diagonal=-1) + torch.diag_embed(diag)

    def _flatten(self, x: Tensor) -> Tensor:
        return flatten_examples(self, x, self.means.dtype)

    @torch.no_grad()
    def _init_from(self, x: Tensor) -> None:
        """Means, covariances and weights of the k-means clusters of the first batch."""
        k, d, floor = self.config.n_components, self.dim, self.config.min_std
        self.means.copy_(kmeans(x, k))
        assign = torch.cdist(x, self.means).argmin(1)
        for j in range(k):
            members = x[assign == j]
            if len(members) > d:
                cov = torch.cov(members.T).reshape(d, d) + (10 * floor) ** 2 * torch.eye(d)
            else:
                cov = torch.diag(x.var(0).clamp_min((10 * floor) ** 2))
            chol = torch.linalg.cholesky(cov)
            self.lower[j].copy_(torch.tril(chol, diagonal=-1))
            diag = (chol.diagonal() - floor).clamp_min(1e-6)
            self.raw_diag[j].copy_(torch.log(torch.expm1(diag)) - math.log(math.e - 1))  # inverse of scale_tril's softplus
            self.logits[j] = math.log(max(len(members), 1) / len(x))
        self.initialized.fill_(True)

    def log_prob(self, x: Tensor) -> Tensor:
        x = self._flatten(x)
        L = self.scale_tril()  # (K, D, D)
        diff = (x[:, None, :] - self.means[None]).unsqueeze(-1)  # (N, K, D, 1)
        z = torch.linalg.solve_triangular(L.expand(len(x), *L.shape), diff, upper=False).squeeze(-1)
        log_det = torch.diagonal(L, dim1=-2, dim2=-1).log().sum(-1)  # (K,)
        comp = -0.5 * z.pow(2).sum(-1) - log_det - 0.5 * self.dim * math.log(2 * math.pi)
        return torch.logsumexp(comp + self.logits.log_softmax(0), dim=1)

    def loss(self, batch) -> dict[str, Tensor]:
        x, _ = unpack_batch(batch)
        if self.config.levels:
            width = 2.0 / (self.config.levels - 1)
            x = x + (batch_rand_like(x) - 0.5) * width
        if not bool(self.initialized):
            self._init_from(self._flatten(x))
        nll = -self.log_prob(x).mean()
        return {"loss": nll, "nll": nll.detach()}

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, **kw) -> Tensor:
        device = self.means.device
        u = rand((n,), generator=generator, device=device)
        cdf = self.logits.softmax(0).cumsum(0)
        comp = torch.searchsorted(cdf, u.contiguous()).clamp_max(self.config.n_components - 1)
        eps = randn((n, self.dim, 1), generator=generator, device=device)
        x = self.means[comp] + (self.scale_tril()[comp] @ eps).squeeze(-1)
        return x.reshape(n, *self.config.shape)
