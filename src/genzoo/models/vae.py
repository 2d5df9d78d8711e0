"""Variational autoencoder with a Gaussian encoder and Bernoulli / Gaussian / discretised-logistic
decoders, MLP or conv backbones, and the posterior-collapse controls.

Kingma & Welling 2013, "Auto-Encoding Variational Bayes"; Burda et al. 2016 (IWAE, active units);
Higgins et al. 2017 (β-VAE); Bowman et al. 2016 (KL warm-up); Kingma et al. 2016 (free bits).

    q_φ(z|x) = N(μ_φ(x), diag σ²_φ(x)),  p(z) = N(0, I),  z = μ + σ ⊙ ε  (reparameterisation)
    loss = -E_q[log p_θ(x|z)] + w_t Σ_d max(λ, KL_d),   KL_d = ½(μ_d² + σ_d² - 1 - log σ_d²)

with w_t = β min(1, t / warmup_steps) and λ the free-bits floor (0: plain ELBO). The loss is reported
per data dimension. Decoders (``likelihood``): ``bernoulli`` for binary data (levels = 2),
``logistic`` (discretised logistic, a probability mass over the L levels) for quantised images,
``gaussian`` (fixed ``decoder_std`` or a learned per-dimension variance) for continuous data,
``categorical`` for token sequences (``backbone="rnn"``: a bidirectional GRU encoder and an
autoregressive GRU decoder p(x|z) = Π_t Cat(x_t | GRU(x_<t, z)), with word dropout (Bowman et al.
2016): during training each decoder input token is replaced by a mask token with probability
``word_dropout``, which forces the decoder to use z. This is the setting where posterior collapse
happens: a strong autoregressive decoder can ignore z and KL -> 0).

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
from ..nn.batch_noise import batch_rand, batch_randn_like
from .pixelcnn import sample_categorical

LIKELIHOODS = {"bernoulli": 1, "gaussian": 1, "logistic": 2, "categorical": 1}  # decoder outputs per data dimension


@dataclass
class VAEConfig(ModelConfig):
    shape: tuple[int, ...] = (1, 8, 8)
    levels: int | None = None
    latent_dim: int = 16
    backbone: str = "mlp"  # "mlp", "conv" (images) or "rnn" (text)
    hidden: tuple[int, ...] = (256, 256)  # mlp widths
    channels: int = 32  # conv width
    likelihood: str = "auto"  # "bernoulli" | "gaussian" | "logistic"; auto picks from levels
    decoder_std: float | None = None  # gaussian decoder: fixed std, or None for a learned one
    beta: float = 1.0
    warmup_steps: int = 0
    free_bits: float = 0.0  # nats per latent dimension
    iwae_k: int = 1000
    vocab_size: int | None = None  # text
    embed_dim: int = 64  # text
    word_dropout: float = 0.0  # text: decoder input tokens masked with this probability in training
    iwae_chunk: int = 50


def default_likelihood(levels: int | None) -> str:
    return "gaussian" if not levels else ("bernoulli" if levels == 2 else "logistic")


class _TextEncoder(nn.Module):
    """Tokens (N, T) -> bidirectional GRU -> final states of both directions -> (N, out)."""

    def __init__(self, vocab: int, embed: int, hidden: int, out: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.rnn = nn.GRU(embed, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, out)

    def forward(self, x: Tensor) -> Tensor:
        _, h = self.rnn(self.embed(x))  # (2, N, H)
        return self.out(torch.cat([h[0], h[1]], -1))


class _TextDecoder(nn.Module):
    """p(x_t | x_<t, z): a GRU whose initial state is tanh(W z) and whose every input is [embed(x_{t-1}), z].
    Token ids ``vocab`` and ``vocab + 1`` are the start and word-dropout mask tokens."""

    def __init__(self, vocab: int, embed: int, hidden: int, latent: int):
        super().__init__()
        self.vocab = vocab
        self.embed = nn.Embedding(vocab + 2, embed)
        self.init = nn.Linear(latent, hidden)
        self.rnn = nn.GRU(embed + latent, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    def step(self, tokens: Tensor, z: Tensor, h: Tensor | None) -> tuple[Tensor, Tensor]:
        """Logits (N, T, V) for input ``tokens`` (N, T) given z and the GRU state ``h``."""
        if h is None:
            h = torch.tanh(self.init(z))[None]
        inp = torch.cat([self.embed(tokens), z[:, None].expand(-1, tokens.shape[1], -1)], -1)
        out, h = self.rnn(inp, h)
        return self.out(out), h

    def forward(self, x: Tensor, z: Tensor, word_dropout: float = 0.0) -> Tensor:
        """Teacher-forced logits (N, T, V) of x given z."""
        inp = torch.cat([torch.full_like(x[:, :1], self.vocab), x[:, :-1]], 1)
        if word_dropout > 0:
            inp = torch.where(batch_rand(*inp.shape, device=x.device) < word_dropout, torch.full_like(inp, self.vocab + 1), inp)
            inp[:, 0] = self.vocab
        return self.step(inp, z, None)[0]


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
    data_kinds = ("2d", "image", "binary", "tabular", "text")
    log_prob_kind = "bound"
    default_budget = {"steps": 3000, "batch_size": 128, "lr": 1e-3}
    #: images: EMA 0.995, the setting of the digits / digits-bin IWAE bits/dim figures (results/defaults.md)
    #: tables (data/tables.py): a fixed decoder std 0.2 (TVAE starts its sigma at 0.1); the learned one starts
    #: at 1 and is still ~0.7 after 600 steps on diabetes (quality 0.72 vs 0.87, TSTR/TRTR -0.2 vs 1.19)
    kind_defaults = {"image": {"budget": {"ema_decay": 0.995}}, "tabular": {"config": {"decoder_std": 0.2}}}

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        lik = config.likelihood if config.likelihood != "auto" else default_likelihood(config.levels)
        if lik not in LIKELIHOODS:
            raise ConfigError(f"vae likelihood must be one of {', '.join(LIKELIHOODS)} or auto, got {config.likelihood!r}")
        if (lik == "categorical") != (config.backbone == "rnn"):
            raise ConfigError("vae on text needs backbone=rnn with likelihood=categorical (and only text uses them)")
        if lik == "categorical" and not config.vocab_size:
            raise ConfigError("vae likelihood=categorical needs vocab_size; build it from a text dataset")
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
        elif config.backbone == "rnn":
            h = max(config.hidden, default=256)
            self.encoder = _TextEncoder(config.vocab_size, config.embed_dim, h, 2 * z)
            self.decoder = _TextDecoder(config.vocab_size, config.embed_dim, h, z)
        else:
            raise ConfigError(f"vae backbone must be 'mlp', 'conv' or 'rnn', got {config.backbone!r}")
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
            base = {"shape": tuple(data.shape), "levels": data.levels, "likelihood": default_likelihood(data.levels)}
            if data.kind == "text":
                base.update(likelihood="categorical", backbone="rnn", vocab_size=data.vocab_size, hidden=(256,))
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
        return x.flatten(1) if self.config.backbone == "mlp" else x.long() if self.lik == "categorical" else x

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mean and log-variance, each (N, Z)."""
        mu, logvar = self.encoder(self._input(x)).chunk(2, dim=-1)
        return mu, logvar.clamp(-12.0, 8.0)

    def decode(self, z: Tensor) -> Tensor:
        """Decoder parameters (N, P, D): logits, means, or (mean, log_scale)."""
        return self.decoder(z).reshape(len(z), self.params_per_dim, self.dim)

    def rec_log_prob(self, x: Tensor, z: Tensor, word_dropout: float = 0.0) -> Tensor:
        """log p(x|z), (N,)."""
        if self.lik == "categorical":
            logp = self.decoder(x.long(), z, word_dropout).log_softmax(-1)
            return logp.gather(-1, x.long()[..., None]).squeeze(-1).sum(-1)
        return self.log_px(x, self.decode(z))

    def log_px(self, x: Tensor, params: Tensor) -> Tensor:
        """log p(x|z) from decoder parameters, summed over dimensions, (N,)."""
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
        z = mu + torch.exp(0.5 * logvar) * batch_randn_like(mu)
        rec = self.rec_log_prob(x, z, self.config.word_dropout if self.training else 0.0)
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
        return self.rec_log_prob(x, z) - gaussian_kl(mu, logvar).sum(-1)

    @torch.no_grad()
    def log_prob(self, x: Tensor, k: int | None = None, generator: torch.Generator | None = None) -> Tensor:
        """IWAE lower bound on log p(x) with ``k`` importance samples (nats, (N,))."""
        k = k or self.config.iwae_k
        if generator is None:
            generator = torch.Generator(device=x.device).manual_seed(0)
        mu, logvar = self.encode(x)
        eps = randn((k, *mu.shape), generator=generator, device=mu.device)  # drawn once: chunking is exact
        log_w = []
        chunk = max(1, min(self.config.iwae_chunk, 8192 // len(x)))  # at most ~8k decoded examples at once
        for start in range(0, k, chunk):
            z = mu + torch.exp(0.5 * logvar) * eps[start:start + chunk]  # (m, N, Z)
            m = len(z)
            log_px = self.rec_log_prob(x.repeat(m, *[1] * (x.dim() - 1)), z.flatten(0, 1)).view(m, -1)
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
        if self.lik == "categorical":
            return self._sample_text(z, generator)
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

    def _sample_text(self, z: Tensor, generator: torch.Generator | None) -> Tensor:
        tokens = torch.full((len(z), 1), self.config.vocab_size, dtype=torch.long, device=z.device)
        out, h = [], None
        for _ in range(self.dim):
            logits, h = self.decoder.step(tokens, z, h)
            tokens = sample_categorical(logits[:, -1], generator)[:, None]
            out.append(tokens)
        return torch.cat(out, 1)
