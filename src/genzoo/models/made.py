"""MADE: masked autoencoder for distribution estimation over discrete vectors and images.

Germain, Gregor, Murray, Larochelle 2015, "MADE: Masked Autoencoder for Distribution Estimation".

For an ordering π of the D dimensions, one pass of a masked MLP gives every conditional

    log p_π(v) = Σ_d log Cat(v_d | softmax(f_d(v_{π-earlier than d}))),

each a categorical over the dataset's L levels (L = 2: binary vectors). Data x in [-1, 1] maps to
levels by v = round((x + 1)(L - 1) / 2). The masks come from ``genzoo.nn.made`` (degrees:
input d gets its position in π, hidden units cycle through the degrees, output d sees strictly
smaller degrees).

Order-agnostic training: the model holds K orderings (the natural one and K-1 random permutations,
each with its own connectivity masks) that share one set of weights; every training step uses one
ordering drawn at random. Evaluation ensembles the orderings as an equal mixture,

    log p(v) = log (1/K Σ_k p_{π_k}(v)),

still an exact, normalised probability mass (``discrete_log_prob = True``). Sampling draws the
component k, then the D values one at a time in that order (D passes of the MLP).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError, DataError
from ..model import GenerativeModel, ModelConfig
from ..nn.made import MaskedLinear, made_masks
from ..registry import register_model
from ..utils import rand, unpack_batch
from .pixelcnn import from_levels, sample_categorical, to_levels


@dataclass
class MADEConfig(ModelConfig):
    shape: tuple[int, ...] = (1, 8, 8)
    levels: int = 2
    hidden: tuple[int, ...] = (512, 512)
    num_orderings: int = 8  # orderings (and connectivity masks) trained with shared weights
    eval_orderings: int | None = None  # how many of them the log_prob / sample mixture uses (None: all)
    seed: int = 0  # seeds the random orderings


def orderings(dim: int, k: int, seed: int) -> Tensor:
    """(k, dim) degrees: row 0 is the natural order 1..D, rows 1.. random permutations."""
    g = torch.Generator().manual_seed(seed)
    rows = [torch.arange(1, dim + 1)] + [torch.randperm(dim, generator=g) + 1 for _ in range(k - 1)]
    return torch.stack(rows)


@register_model("made")
class MADE(GenerativeModel):
    config_class = MADEConfig
    data_kinds = ("image", "binary", "tabular")
    log_prob_kind = "exact"
    discrete_log_prob = True
    default_budget = {"steps": 3000, "batch_size": 128, "lr": 1e-3}
    #: images: EMA 0.995, the setting of the digits / digits-bin bits/dim figures (results/defaults.md)
    kind_defaults = {"image": {"budget": {"ema_decay": 0.995}}}

    def __init__(self, config: MADEConfig):
        super().__init__(config)
        if config.levels < 2 or config.num_orderings < 1:
            raise ConfigError(f"made needs levels >= 2 and num_orderings >= 1, got {config.levels} and {config.num_orderings}")
        d, L = self.dim, config.levels
        self.register_buffer("degrees", orderings(d, config.num_orderings, config.seed), persistent=False)
        banks = [made_masks(deg, config.hidden, L) for deg in self.degrees]  # K lists of per-layer masks
        self.layers = nn.ModuleList(MaskedLinear(m) for m in banks[0])
        for i in range(len(self.layers)):
            self.register_buffer(f"masks{i}", torch.stack([b[i] for b in banks]).bool(), persistent=False)

    @property
    def dim(self) -> int:
        return math.prod(self.config.shape)

    @property
    def n_eval(self) -> int:
        return min(self.config.eval_orderings or self.config.num_orderings, self.config.num_orderings)

    @classmethod
    def config_for_data(cls, data, **overrides) -> MADEConfig:
        base = {}
        if data is not None:
            if not data.levels:
                raise DataError(f"made models discrete data; dataset {data.name!r} has no levels (use a quantised or -bin set)")
            base = {"shape": tuple(data.shape), "levels": data.levels}
        return MADEConfig.from_dict({**base, **overrides})

    @classmethod
    def contract_fixture(cls):
        v = torch.randint(0, 3, (16, 1, 2, 3), generator=torch.Generator().manual_seed(0))
        return MADEConfig(shape=(1, 2, 3), levels=3, hidden=(32, 32), num_orderings=3), from_levels(v, 3)

    def forward(self, x: Tensor, ordering: int = 0) -> Tensor:
        """Logits (N, D, L) of every p(v_d | earlier values in ordering ``ordering``)."""
        h = x.reshape(len(x), -1)
        for i, layer in enumerate(self.layers):
            if i:
                h = F.relu(h)
            h = layer(h, getattr(self, f"masks{i}")[ordering])
        return h.view(len(x), self.dim, self.config.levels)

    def _check(self, x: Tensor) -> None:
        if tuple(x.shape[1:]) != tuple(self.config.shape):
            raise DataError(f"made expects examples of shape {tuple(self.config.shape)}, got {tuple(x.shape[1:])}; rebuild the model for this data")

    def log_prob_ordering(self, x: Tensor, ordering: int) -> Tensor:
        v = to_levels(x, self.config.levels).reshape(len(x), -1, 1)
        return self(x, ordering).log_softmax(-1).gather(-1, v).squeeze(-1).sum(1)

    def log_prob(self, x: Tensor) -> Tensor:
        self._check(x)
        per = torch.stack([self.log_prob_ordering(x, k) for k in range(self.n_eval)], 1)
        return torch.logsumexp(per, 1) - math.log(self.n_eval)

    def loss(self, batch) -> dict[str, Tensor]:
        x, _ = unpack_batch(batch)
        self._check(x)
        k = int(torch.randint(self.config.num_orderings, ())) if self.config.num_orderings > 1 else 0  # Trainer-seeded RNG
        nll = -self.log_prob_ordering(x, k).mean() / self.dim
        return {"loss": nll, "bpd": nll.detach() / math.log(2)}

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, **kw) -> Tensor:
        device = self.degrees.device
        comp = (rand((n,), generator=generator, device=device) * self.n_eval).long().clamp_max(self.n_eval - 1)
        x = torch.zeros(n, self.dim, device=device)
        for k in comp.unique().tolist():
            rows = (comp == k).nonzero().squeeze(1)
            xs = torch.zeros(len(rows), self.dim, device=device)
            for d in torch.argsort(self.degrees[k]).tolist():  # dimensions in ordering k
                v = sample_categorical(self(xs, k)[:, d], generator)
                xs[:, d] = from_levels(v, self.config.levels)
            x[rows] = xs
        return x.view(n, *self.config.shape)
