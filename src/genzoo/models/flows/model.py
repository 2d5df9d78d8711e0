"""The shared body of every flow model: config fields, dequantisation, loss, log_prob, sample.

A flow model holds ``self.flow`` (a ``Flow``: a transform from data to N(0, I)) and gets

    log p(x) = log N(f(x); 0, I) + log|det ∂f/∂x|                         (exact, nats)
    loss     = -E_x[log p(x)]                                              (maximum likelihood)

Quantised data (``levels`` = L, values stored as 2v/(L-1) - 1 in [-1, 1], bin width Δ = 2/(L-1))
is dequantised in the loss (Theis et al. 2016; Ho et al. 2019, Flow++):

    uniform:      x̃ = x + Δ (u - ½),  u ~ U[0, 1)^D
    variational:  x̃ = x + Δ (u - ½),  u ~ q(u | x) (a conditional flow squashed by a sigmoid),
                  loss = -E_q[log p(x̃) - log q(u | x)]

Either way log P(v) ≥ E[log p(x̃) - log q(u|x)] + D log Δ, and ``log_prob`` is a density over the
[-1, 1]-scaled data, so the ``bpd`` metric adds D log Δ: bpd = -(log p(x) + D log Δ) / (D ln 2).
``dequantized_log_prob`` gives the (importance-weighted) lower bound on log P(v) - D log Δ itself.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...errors import ConfigError, DataError
from ...model import GenerativeModel, ModelConfig
from ...utils import unpack_batch
from .autoregressive import MaskedAutoregressive
from .base import Compose, Flow, Invert
from .elementwise import Affine
from .permutation import Reverse


@dataclass
class FlowConfig(ModelConfig):
    """Fields every flow model shares (subclasses add their architecture)."""

    shape: tuple[int, ...] = (2,)
    levels: int | None = None            # quantised data: dequantise in the loss
    dequantization: str = "uniform"      # "uniform" | "variational"


@dataclass
class CouplingFlowConfig(FlowConfig):
    """Fields of the coupling families (realnvp, glow): MLP conditioners on vectors, conv on images."""

    hidden: tuple[int, ...] = (64, 64)     # vectors: MLP widths
    scales: int = 2                        # images: number of squeeze levels (Glow's L)
    channels: int = 64                     # images: conv conditioner width
    blocks: int = 1                        # images: residual blocks per conditioner
    scale_clamp: float = 3.0               # affine log-scales are soft-clamped to (-c, c)


class VariationalDequantizer(nn.Module):
    """q(u | x) on the unit cube: u = sigmoid(h), h from a conditional IAF (one pass to sample)."""

    def __init__(self, features: int, hidden: int = 64, transforms: int = 2):
        super().__init__()
        layers = []
        for i in range(transforms):
            layers += [Invert(MaskedAutoregressive(features, Affine(), (hidden,), context_features=features))]
            if i < transforms - 1:
                layers.append(Reverse(features))
        self.flow = Flow(Compose(*layers), (features,))

    def forward(self, x: Tensor, generator=None) -> tuple[Tensor, Tensor]:
        """Draw ``u ~ q(u | x)`` for flat ``x`` (N, D); returns ``(u, log q(u | x))``."""
        h, log_q = self.flow.sample_and_log_prob(len(x), context=x, generator=generator)
        log_q = log_q - (F.logsigmoid(h) + F.logsigmoid(-h)).sum(-1)  # change of variables h -> u
        return torch.sigmoid(h), log_q


class FlowModel(GenerativeModel):
    """Base class of the flow models; subclasses implement ``build_transform``."""

    config_class = FlowConfig
    data_kinds = ("2d", "image", "tabular")
    log_prob_kind = "exact"
    default_budget = {"steps": 2000, "batch_size": 256, "lr": 1e-3}
    #: the family has image transforms (convolutions, squeeze): (N, C, H, W) data is not flattened
    image_transforms = False

    @property
    def vector_input(self) -> bool:
        """The transform acts on flat vectors (N, D) rather than on (N, C, H, W)."""
        return not (self.image_transforms and len(self.config.shape) == 3)

    def __init__(self, config: FlowConfig):
        super().__init__(config)
        if config.dequantization not in ("uniform", "variational"):
            raise ConfigError(f"dequantization={config.dequantization!r} is not known; use 'uniform' or 'variational'")
        self.dim = math.prod(config.shape)
        shape = (self.dim,) if self.vector_input else tuple(config.shape)
        self.flow = Flow(self.build_transform(shape), shape)
        self.dequantizer = None
        if config.levels and config.dequantization == "variational":
            self.dequantizer = VariationalDequantizer(self.dim)

    def build_transform(self, shape: tuple[int, ...]):
        raise NotImplementedError

    @classmethod
    def config_for_data(cls, data, **overrides) -> FlowConfig:
        base = {} if data is None else {"shape": tuple(data.shape), "levels": data.levels}
        return cls.config_class.from_dict({**base, **overrides})

    # --- density ---------------------------------------------------------------------------
    def _to_flow(self, x: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != tuple(self.config.shape):
            raise DataError(f"{self.model_type} expects examples of shape {tuple(self.config.shape)}, got {tuple(x.shape[1:])}; rebuild the model for this data")
        x = x.to(next(self.parameters()).dtype)
        return x.reshape(len(x), -1) if self.vector_input else x

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log-density (nats) of the continuous data x (for quantised data: on [-1, 1])."""
        return self.flow.log_prob(self._to_flow(x))

    @property
    def bin_width(self) -> float | None:
        return 2.0 / (self.config.levels - 1) if self.config.levels else None

    def dequantize(self, x: Tensor, generator=None) -> tuple[Tensor, Tensor]:
        """``(x̃, log q(u|x))`` with x̃ = x + Δ(u - ½); log q = 0 for uniform noise."""
        flat = x.reshape(len(x), -1)
        if self.dequantizer is None:
            u = torch.rand(flat.shape, generator=generator, device=x.device, dtype=flat.dtype)
            log_q = flat.new_zeros(len(x))
        else:
            u, log_q = self.dequantizer(flat, generator=generator)
        return (flat + self.bin_width * (u - 0.5)).reshape(x.shape), log_q

    def loss(self, batch) -> dict[str, Tensor]:
        x, _ = unpack_batch(batch)
        x = self._to_flow(x)
        if not self.config.levels:
            nll = -self.flow.log_prob(x).mean()
            return {"loss": nll, "nll": nll.detach()}
        xt, log_q = self.dequantize(x)
        nll = -(self.flow.log_prob(xt) - log_q).mean()
        bpd = (nll - self.dim * math.log(self.bin_width)) / (self.dim * math.log(2))
        return {"loss": nll, "nll": nll.detach(), "bpd": bpd.detach()}

    @torch.no_grad()
    def dequantized_log_prob(self, x: Tensor, samples: int = 16, generator=None) -> Tensor:
        """Importance-weighted lower bound on log P(v) - D log Δ for quantised x (Flow++ eq. 13):
        log (1/K) Σ_k p(x + Δ(u_k - ½)) / q(u_k | x), u_k ~ q."""
        if not self.config.levels:
            raise ConfigError("dequantized_log_prob needs quantised data (levels); use log_prob")
        x = self._to_flow(x)
        terms = []
        for _ in range(samples):
            xt, log_q = self.dequantize(x, generator)
            terms.append(self.flow.log_prob(xt) - log_q)
        return torch.logsumexp(torch.stack(terms), 0) - math.log(samples)

    def configure_optimizers(self, lr: float, weight_decay: float = 0.0, betas=(0.9, 0.999)) -> list[torch.optim.Optimizer]:
        """AdamW with the fused (single-kernel) update: flows have many small parameter tensors."""
        return [torch.optim.AdamW(self.parameters(), lr=lr, weight_decay=weight_decay, betas=betas, fused=True)]

    # --- sampling --------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, temperature: float = 1.0, **kw) -> Tensor:
        x = self.flow.sample(n, generator=generator, temperature=temperature).reshape(n, *self.config.shape)
        if self.config.levels:
            x = x.clamp(-1.0, 1.0)
        return x.float()
