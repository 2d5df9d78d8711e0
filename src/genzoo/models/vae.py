"""Variational autoencoder with a Gaussian encoder and Bernoulli / Gaussian / discretised-logistic
decoders, MLP or conv backbones, and the posterior-collapse controls.

Kingma & Welling 2013, "Auto-Encoding Variational Bayes"; Burda et al. 2016 (IWAE, active units);
Higgins et al. 2017 (β-VAE); Bowman et al. 2016 (KL warm-up); Kingma et al. 2016 (free bits).

    q_φ(z|x) = N(μ_φ(x), diag σ²_φ(x)),  p(z) = N(0, I),  z = μ + σ ⊙ ε  (reparameterisation)
    loss = -E_q[log p_θ(x|z)] + w_t Σ_d max(λ, KL_d),   KL_d = ½(μ_d² + σ_d² - 1 - log σ_d²)

with w_t = β min(1, t / warmup_steps) and λ the free-bits floor (0: plain ELBO). The loss is reported
per data dimension. Decoders (``likelihood``): ``bernoulli`` for binary data (levels = 2),
``logistic`` (discretised logistic, a probability mass over the L levels) for quantised images,
``gaussian`` (fixed ``decoder_std`` or a learned per-dimension variance) for continuous data.

``log_prob(x)`` is the IWAE **lower bound** L_k = log 1/k Σ_i p(x|z_i) p(z_i) / q(z_i|x) with
k = ``iwae_k`` importance samples (1000 by default), evaluated in chunks of ``iwae_chunk`` so memory
stays bounded, with a fixed seed unless a ``generator`` is given. For bernoulli / logistic decoders
it bounds a probability mass (``discrete_log_prob``), for gaussian a density. ``elbo(x)`` is L_1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import ConfigError, DataError
from ..model import GenerativeModel, ModelConfig
from ..nn.conv import ConvDecoder, ConvEncoder, num_downsamples
from ..objectives.elbo import (active_units, bernoulli_log_prob, discretized_logistic_log_prob, free_bits_kl,
                               gaussian_kl, iwae_bound, kl_weight, log_normal, mutual_information)
from ..registry import register_model
from ..utils import rand, randn, unpack_batch

LIKELIHOODS = {"bernoulli": 1, "gaussian": 1, "logistic": 2}  # decoder outputs per data dimension


@dataclass
class VAEConfig(ModelConfig):
    shape: tuple[int, ...] = (1, 8, 8)
    levels: int | None = None
    latent_dim: int = 16
    backbone: str = "mlp"  # "mlp" or "conv" (images)
    hidden: tuple[int, ...] = (256, 256)  # mlp widths
    channels: int = 32  # conv width
    likelihood: str = "auto"  # "bernoulli" | "gaussian" | "logistic"; auto picks from levels
    decoder_std: float | None = None  # gaussian decoder: fixed std, or None for a learned one
    beta: float = 1.0
    warmup_steps: int = 0
    free_bits: float = 0.0  # nats per latent dimension
    iwae_k: int = 1000
    iwae_chunk: int = 50


def default_likelihood(levels: int | None) -> str:
    return "gaussian" if not levels else ("bernoulli" if levels == 2 else "logistic")


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += ([nn.ReLU()] if i else []) + [nn.Linear(a, b)]
    return nn.Sequential(*layers)


class _ConvHead(nn.Module):
    """Conv encoder + linear to a vector, or linear + conv decoder from a vector."""

    def __init__(self, shape, channels: int, vec: int, decoder: bool, params_per_dim: int = 1):
        super().__init__()
        c, h, w = shape
        n = num_downsamples(h, w)
        self.grid = (channels, h >> n, w >> n)
        flat = math.prod(self.grid)
        self.decoder = decoder
        if decoder:
            self.linear, self.conv = nn.Linear(vec, flat), ConvDecoder(channels, c * params_per_dim, n)
        else:
            self.conv, self.linear = ConvEncoder(c, channels, n), nn.Linear(flat, vec)

    def forward(self, t: Tensor) -> Tensor:
        if self.decoder:
            return self.conv(self.linear(t).view(len(t), *self.grid))
        return self.linear(self.conv(t).flatten(1))


@register_model("vae")
class VAE(GenerativeModel):
    config_class = VAEConfig
    data_kinds = ("2d", "image", "binary", "tabular")
    log_prob_kind = "bound"
    default_budget = {"steps": 3000, "batch_size": 128, "lr": 1e-3}

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        lik = config.likelihood if config.likelihood != "auto" else default_likelihood(config.levels)
        if lik not in LIKELIHOODS:
            raise ConfigError(f"vae likelihood must be one of {', '.join(LIKELIHOODS)} or auto, got {config.likelihood!r}")
        if lik in ("bernoulli", "logistic") and not config.levels:
            raise ConfigError(f"vae likelihood={lik} needs quantised data (levels); use likelihood=gaussian")
        if lik == "bernoulli" and config.levels != 2:
            raise ConfigError(f"vae likelihood=bernoulli needs binary data (levels=2), got levels={config.levels}; use logistic")
        self.lik, self.params_per_dim = lik, LIKELIHOODS[lik]
        self.discrete_log_prob = lik != "gaussian"
        d, z = self.dim, config.latent_dim
        if config.backbone == "mlp":
            self.encoder = mlp([d, *config.hidden, 2 * z])
            self.decoder = mlp([z, *reversed(config.hidden), d * self.params_per_dim])
        elif config.backbone == "conv":
            if len(config.shape) != 3:
                raise ConfigError(f"vae backbone=conv needs images (C, H, W), got shape {config.shape}; use backbone=mlp")
            self.encoder = _ConvHead(config.shape, config.channels, 2 * z, decoder=False)
            self.decoder = _ConvHead(config.shape, config.channels, z, decoder=True, params_per_dim=self.params_per_dim)
        else:
            raise ConfigError(f"vae backbone must be 'mlp' or 'conv', got {config.backbone!r}")
        if lik == "gaussian" and config.decoder_std is None:
            self.dec_logvar = nn.Parameter(torch.zeros(d))
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    @property
    def dim(self) -> int:
        return math.prod(self.config.shape)

    @classmethod
    def config_for_data(cls, data, **overrides) -> VAEConfig:
        base = {}
        if data is not None:
            if data.kind == "text":
                raise DataError(f"vae models vectors and images; dataset {data.name!r} is text")
            base = {"shape": tuple(data.shape), "levels": data.levels, "likelihood": default_likelihood(data.levels)}
            if data.kind == "image" and math.prod(data.shape) >= 256:
                base["backbone"] = "conv"
        return VAEConfig.from_dict({**base, **overrides})

    @classmethod
    def contract_fixture(cls):
        v = torch.randint(0, 2, (16, 1, 4, 4), generator=torch.Generator().manual_seed(0))
        return VAEConfig(shape=(1, 4, 4), levels=2, latent_dim=3, hidden=(32,), iwae_k=20, iwae_chunk=8), v * 2.0 - 1

    # --- networks ---------------------------------------------------------------------------
    def _input(self, x: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != tuple(self.config.shape):
            raise DataError(f"vae expects examples of shape {tuple(self.config.shape)}, got {tuple(x.shape[1:])}; rebuild the model for this data")
        return x.flatten(1) if self.config.backbone == "mlp" else x

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mean and log-variance, each (N, Z)."""
        mu, logvar = self.encoder(self._input(x)).chunk(2, dim=-1)
        return mu, logvar.clamp(-12.0, 8.0)

    def decode(self, z: Tensor) -> Tensor:
        """Decoder parameters (N, P, D): logits, means, or (mean, log_scale)."""
        return self.decoder(z).reshape(len(z), self.params_per_dim, self.dim)

    def log_px(self, x: Tensor, params: Tensor) -> Tensor:
        """log p(x|z) summed over dimensions, (N,)."""
        x = x.reshape(len(x), -1)
        if self.lik == "bernoulli":
            lp = bernoulli_log_prob((x > 0).to(params.dtype), params[:, 0])
        elif self.lik == "logistic":
            lp = discretized_logistic_log_prob(x, params[:, 0], params[:, 1].clamp_min(-7.0), self.config.levels)
        else:
            lp = log_normal(x, params[:, 0], self._dec_logvar())
        return lp.sum(-1)

    def _dec_logvar(self) -> Tensor | float:
        std = self.config.decoder_std
        return self.dec_logvar if std is None else 2 * math.log(std)

    # --- objectives ---------------------------------------------------------------------------
    def loss(self, batch) -> dict[str, Tensor]:
        x, _ = unpack_batch(batch)
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        rec = self.log_px(x, self.decode(z))
        kl_d = gaussian_kl(mu, logvar)
        w = kl_weight(int(self.step), self.config.beta, self.config.warmup_steps)
        if self.training:
            self.step += 1
        loss = (-rec.mean() + w * free_bits_kl(kl_d, self.config.free_bits)) / self.dim
        kl = kl_d.sum(1).mean()
        with torch.no_grad():
            mi = mutual_information(mu, logvar, z)
        return {"loss": loss, "elbo": (rec.mean() - kl).detach(), "rec": -rec.mean().detach(), "kl": kl.detach(),
                "kl_weight": torch.tensor(w), "active_units": torch.tensor(float(active_units(mu.detach()))), "mi": mi}

    def elbo(self, x: Tensor) -> Tensor:
        """Per-example ELBO (one reparameterised sample, analytic KL), nats."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.log_px(x, self.decode(z)) - gaussian_kl(mu, logvar).sum(-1)

    @torch.no_grad()
    def log_prob(self, x: Tensor, k: int | None = None, generator: torch.Generator | None = None) -> Tensor:
        """IWAE lower bound on log p(x) with ``k`` importance samples (nats, (N,))."""
        k = k or self.config.iwae_k
        if generator is None:
            generator = torch.Generator(device=x.device).manual_seed(0)
        mu, logvar = self.encode(x)
        eps = randn((k, *mu.shape), generator=generator, device=mu.device)  # drawn once: chunking is exact
        log_w = []
        for start in range(0, k, self.config.iwae_chunk):
            z = mu + torch.exp(0.5 * logvar) * eps[start:start + self.config.iwae_chunk]  # (m, N, Z)
            m = len(z)
            log_px = self.log_px(x.repeat(m, *[1] * (x.dim() - 1)), self.decode(z.flatten(0, 1))).view(m, -1)
            log_w.append(log_px + log_normal(z, 0.0, 0.0).sum(-1) - log_normal(z, mu, logvar).sum(-1))
        return iwae_bound(torch.cat(log_w), dim=0)

    @torch.no_grad()
    def diagnostics(self, x: Tensor, max_mi: int = 500) -> dict[str, object]:
        """KL per latent dim (dataset mean), active units (Cov_x E_q[z] > 0.01), MI estimate."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        kl_d = gaussian_kl(mu, logvar).mean(0)
        return {"kl_per_dim": kl_d.tolist(), "kl": float(kl_d.sum()), "active_units": active_units(mu),
                "mi": float(mutual_information(mu[:max_mi], logvar[:max_mi], z[:max_mi]))}

    # --- sampling -----------------------------------------------------------------------------
    @torch.no_grad()
    def decode_mean(self, z: Tensor) -> Tensor:
        """The decoder's mean image (in data space) for latents ``z``."""
        params = self.decode(z)
        out = torch.tanh(params[:, 0] / 2) if self.lik == "bernoulli" else params[:, 0].clamp(-1, 1) if self.config.levels else params[:, 0]
        return out.view(len(z), *self.config.shape)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, mean: bool = False, **kw) -> Tensor:
        """z ~ N(0, I), then x ~ p(x|z) (or its mean with ``mean=True``)."""
        device = next(self.parameters()).device
        z = randn((n, self.config.latent_dim), generator=generator, device=device)
        if mean:
            return self.decode_mean(z)
        params = self.decode(z)
        u = rand((n, self.dim), generator=generator, device=device)
        if self.lik == "bernoulli":
            x = (u < torch.sigmoid(params[:, 0])).float() * 2 - 1
        elif self.lik == "logistic":
            levels = self.config.levels
            u = u.clamp(1e-6, 1 - 1e-6)
            x = params[:, 0] + params[:, 1].clamp_min(-7.0).exp() * (u.log() - (-u).log1p())
            x = torch.round((x.clamp(-1, 1) + 1) * (levels - 1) / 2) * (2 / (levels - 1)) - 1
        else:
            std = torch.exp(0.5 * torch.as_tensor(self._dec_logvar(), device=device))
            x = params[:, 0] + std * randn((n, self.dim), generator=generator, device=device)
        return x.view(n, *self.config.shape)
