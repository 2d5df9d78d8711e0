"""VQ-VAE with an EMA codebook, dead-code restarts and a PixelCNN prior over the code grid.

van den Oord, Vinyals, Kavukcuoglu 2017, "Neural Discrete Representation Learning".

    z_e = E(x) ∈ R^{D×h×w},   k* = argmin_k ||z_e - e_k||,   z_q = e_{k*},   x̂ = G(z_q)
    loss = ||x - x̂||² + ||sg[z_e] - e||² + β ||z_e - sg[e]||²

The decoder's gradient reaches the encoder by the straight-through estimator z_q ≈ z_e + sg[z_q - z_e].
With ``ema=True`` the codebook term is replaced by exponential moving averages (paper, appendix A.1):

    N_k <- γ N_k + (1 - γ) n_k,   m_k <- γ m_k + (1 - γ) Σ_{i: k*_i = k} z_e,i,   e_k = m_k / Ñ_k

(Ñ: Laplace-smoothed counts). Codes whose N_k falls below ``restart_threshold`` are restarted at
random encoder outputs of the current batch (dead-code restarts, as in Jukebox / Dhariwal et al. 2020).
Codebook usage is reported as the perplexity exp(H(p̄)) of the batch's code histogram p̄.

Generation is the classic two-stage pipeline: a gated PixelCNN (``genzoo.models.pixelcnn``) over the
(h, w) grid of code indices, trained on the detached codes in the same loss (``prior_weight``), is
sampled and decoded. VQ-VAE has no likelihood of its own (``log_prob`` raises NotSupported).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError, DataError
from ..model import GenerativeModel, ModelConfig
from ..nn.conv import ConvDecoder, ConvEncoder, num_downsamples
from ..registry import register_model
from ..utils import unpack_batch
from .pixelcnn import PixelCNN, PixelCNNConfig, from_levels, to_levels


@dataclass
class VQVAEConfig(ModelConfig):
    shape: tuple[int, ...] = (1, 8, 8)
    levels: int | None = None
    channels: int = 64
    embed_dim: int = 16
    codebook_size: int = 32
    min_grid: int = 4  # downsample until the code grid's smaller side is this
    beta: float = 0.25  # commitment weight
    ema: bool = True
    ema_decay: float = 0.99
    restart_threshold: float = 0.5  # EMA count below which a code is restarted (0: never)
    prior_channels: int = 32
    prior_layers: int = 4
    prior_weight: float = 1.0


class VectorQuantizer(nn.Module):
    """Nearest-neighbour quantisation of (N, D, h, w) vectors to a (K, D) codebook."""

    def __init__(self, k: int, d: int, ema: bool, decay: float, restart_threshold: float, eps: float = 1e-5):
        super().__init__()
        self.k, self.ema, self.decay, self.threshold, self.eps = k, ema, decay, restart_threshold, eps
        init = torch.randn(k, d) * 0.1
        if ema:
            self.register_buffer("codebook", init)
            self.register_buffer("ema_count", torch.ones(k))
            self.register_buffer("ema_sum", init.clone())
        else:
            self.codebook = nn.Parameter(init)
        self.register_buffer("restarts", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def set_codebook(self, codes: Tensor) -> None:
        """Overwrite the codebook (and the EMA sums that generate it)."""
        self.codebook.copy_(codes)
        if self.ema:
            self.ema_sum.copy_(codes * self.ema_count[:, None])

    def codes(self, flat: Tensor) -> Tensor:
        dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.T + self.codebook.pow(2).sum(1)
        return dist.argmin(1)

    def forward(self, z_e: Tensor) -> dict[str, Tensor]:
        n, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        idx = self.codes(flat)
        onehot = F.one_hot(idx, self.k).to(flat.dtype)
        if self.training and self.ema:
            self._ema_update(flat.detach(), onehot)
        q = self.codebook[idx]
        commit = F.mse_loss(flat, q.detach())
        codebook_loss = torch.zeros((), device=flat.device) if self.ema else F.mse_loss(q, flat.detach())
        q = flat + (q - flat).detach()  # straight-through
        p = onehot.mean(0)
        return {"z_q": q.view(n, h, w, d).permute(0, 3, 1, 2), "codes": idx.view(n, h, w), "commit": commit,
                "codebook_loss": codebook_loss, "perplexity": torch.exp(-(p * (p + 1e-10).log()).sum())}

    @torch.no_grad()
    def _ema_update(self, flat: Tensor, onehot: Tensor) -> None:
        g = self.decay
        self.ema_count.mul_(g).add_(onehot.sum(0), alpha=1 - g)
        self.ema_sum.mul_(g).add_(onehot.T @ flat, alpha=1 - g)
        total = self.ema_count.sum()
        smoothed = (self.ema_count + self.eps) / (total + self.k * self.eps) * total
        self.codebook.copy_(self.ema_sum / smoothed[:, None])
        dead = (self.ema_count < self.threshold).nonzero().squeeze(1)
        if len(dead):  # restart dead codes at random encoder outputs (global RNG: the Trainer seeds it)
            pick = flat[torch.randint(len(flat), (len(dead),), device=flat.device)]
            self.codebook[dead] = pick
            self.ema_sum[dead] = pick
            self.ema_count[dead] = 1.0
            self.restarts += len(dead)


@register_model("vqvae")
class VQVAE(GenerativeModel):
    config_class = VQVAEConfig
    data_kinds = ("image",)
    log_prob_kind = "none"
    default_budget = {"steps": 3000, "batch_size": 128, "lr": 1e-3}

    def __init__(self, config: VQVAEConfig):
        super().__init__(config)
        if len(config.shape) != 3:
            raise ConfigError(f"vqvae needs images (C, H, W), got shape {config.shape}")
        c, h, w = config.shape
        n = num_downsamples(h, w, config.min_grid)
        self.grid = (h >> n, w >> n)
        self.encoder = nn.Sequential(ConvEncoder(c, config.channels, n), nn.Conv2d(config.channels, config.embed_dim, 1))
        self.decoder = nn.Sequential(nn.Conv2d(config.embed_dim, config.channels, 3, padding=1),
                                     ConvDecoder(config.channels, c, n))
        self.quantizer = VectorQuantizer(config.codebook_size, config.embed_dim, config.ema, config.ema_decay,
                                         config.restart_threshold)
        ch = max(1, config.prior_channels)
        self.prior = PixelCNN(PixelCNNConfig(shape=(1, *self.grid), levels=config.codebook_size, channels=ch,
                                             n_layers=config.prior_layers, kernel_size=3, first_kernel_size=3,
                                             head_channels=2 * ch))
        self.register_buffer("initialized", torch.tensor(False))

    @classmethod
    def config_for_data(cls, data, **overrides) -> VQVAEConfig:
        base = {}
        if data is not None:
            if data.kind != "image":
                raise DataError(f"vqvae models images; dataset {data.name!r} has kind {data.kind!r}")
            base = {"shape": tuple(data.shape), "levels": data.levels}
        return VQVAEConfig.from_dict({**base, **overrides})

    @classmethod
    def contract_fixture(cls):
        x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
        return VQVAEConfig(shape=(1, 8, 8), channels=8, embed_dim=4, codebook_size=8, prior_channels=4,
                           prior_layers=2), x

    def _check(self, x: Tensor) -> None:
        if tuple(x.shape[1:]) != tuple(self.config.shape):
            raise DataError(f"vqvae expects images of shape {tuple(self.config.shape)}, got {tuple(x.shape[1:])}; rebuild the model for this data")

    def _codes_as_image(self, codes: Tensor) -> Tensor:
        return from_levels(codes[:, None], self.config.codebook_size)

    def loss(self, batch) -> dict[str, Tensor]:
        x, _ = unpack_batch(batch)
        self._check(x)
        z_e = self.encoder(x)
        if self.training and self.config.ema and not bool(self.initialized):
            with torch.no_grad():  # data-dependent codebook init: random encoder outputs of the first batch
                flat = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])
                pick = flat[torch.randint(len(flat), (self.config.codebook_size,), device=flat.device)]
                self.quantizer.set_codebook(pick)
                self.initialized.fill_(True)
        q = self.quantizer(z_e)
        rec = F.mse_loss(self.decoder(q["z_q"]), x)
        prior = self.prior.loss(self._codes_as_image(q["codes"]))["loss"]
        loss = rec + q["codebook_loss"] + self.config.beta * q["commit"] + self.config.prior_weight * prior
        return {"loss": loss, "rec_mse": rec.detach(), "commit": q["commit"].detach(), "perplexity": q["perplexity"],
                "prior_bits_per_code": prior.detach() / math.log(2), "restarts": self.quantizer.restarts.float()}

    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """Code indices (N, h, w)."""
        self._check(x)
        z = self.encoder(x)
        return self.quantizer.codes(z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])).view(len(x), *self.grid)

    @torch.no_grad()
    def decode(self, codes: Tensor) -> Tensor:
        """Images in [-1, 1] (rounded to the data's levels) from code indices (N, h, w)."""
        x = self.decoder(self.quantizer.codebook[codes].permute(0, 3, 1, 2)).clamp(-1, 1)
        if self.config.levels:
            x = from_levels(to_levels(x, self.config.levels), self.config.levels)
        return x

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, **kw) -> Tensor:
        """Codes from the PixelCNN prior, decoded."""
        codes = to_levels(self.prior.sample(n, generator=generator), self.config.codebook_size)[:, 0]
        return self.decode(codes)
