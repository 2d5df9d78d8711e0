"""Energy-based models: p_θ(x) = exp(−E_θ(x)) / Z_θ with an MLP (2-D) or small conv (images) energy.

E_θ(x) = f_θ(x) + ‖x‖² / (2 s²): the network plus a wide Gaussian confinement (``prior_std`` = s,
0 disables it) that keeps Z_θ finite whatever f_θ does far from the data.

Training objectives (``objective=``):
- ``pcd`` persistent contrastive divergence (Tieleman 2008) with short-run SGLD and a replay buffer
  (Du & Mordatch 2019): negatives start from the buffer (95%) or uniform noise (5%), then K steps of
  x ← x − (ε/2)∇E(x) + σξ;  L = E_data[E(x⁺)] − E[E(x⁻)] + α (E(x⁺)² + E(x⁻)²).
  ∇_θ L is the maximum-likelihood gradient E_data[∇E] − E_model[∇E] when x⁻ ~ p_θ.
- ``cd`` CD-k (Hinton 2002): the same with chains started at the data.
- ``ssm`` sliced score matching, ``dsm`` denoising score matching (objectives/score_matching.py)
  with the score s_θ = −∇ₓE_θ.
- ``nce`` noise-contrastive estimation (Gutmann & Hyvärinen 2010): logistic regression of data
  against noise q = N(μ, diag σ²) fitted to the data, with log p̃ = −E(x) − c and c learnt (≈ log Z).
- ``jem`` joint energy model (Grathwohl et al. 2020, "Your classifier is secretly an energy-based
  model"): the network has ``num_classes`` outputs f(x)[y]; p(y|x) = softmax(f(x))_y,
  E(x, y) = −f(x)[y], E(x) = −log Σ_y exp f(x)[y];  L = CE(f(x⁺), y⁺) + w · L_pcd on E(x).

Sampling: SGLD or MALA (``samplers/langevin.py``) from uniform noise, from a per-coordinate Gaussian
fitted to the data (``chain_init=gaussian``) or from replay-buffer rows (``from_buffer=True``); JEM
samples a class with ``y=`` (SGLD on E(x, y)). Every draw comes from ``generator``.
log p(x) = −E(x) − log Z, with log Z from annealed importance sampling (``samplers/ais.py``, an
estimate with a standard error: ``log_prob_kind = "estimate"``), from a fine grid (2-D only,
``log_z_method=grid``) or from NCE's learnt c. log Z is cached until the weights change.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError, DataError, NotSupported
from ..model import GenerativeModel, ModelConfig
from ..objectives.score_matching import denoising_score_matching, energy_score, sliced_score_matching
from ..registry import register_model
from ..samplers.ais import ais_log_z
from ..samplers.langevin import mala, sgld
from ..nn.batch_noise import batch_rand, batch_randint, batch_randn, global_batch
from ..utils import model_device, rand, randn, unpack_batch
from .gan_nets import apply_spectral_norm

OBJECTIVES = ("pcd", "cd", "ssm", "dsm", "nce", "jem")
NO_CLASSES = "y= needs a class-aware energy; build the EBM with objective=jem (num_classes)"


@dataclass
class EBMConfig(ModelConfig):
    shape: tuple[int, ...] = (2,)
    arch: str = "auto"                 # mlp | conv; auto: conv for (C, H, W)
    hidden: int = 128
    depth: int = 3
    channels: int = 32
    spectral_norm: bool = False
    prior_std: float = 6.0             # Gaussian confinement ‖x‖²/(2 s²); 0 disables
    objective: str = "pcd"             # pcd | cd | ssm | dsm | nce | jem
    num_classes: int = 0               # > 0: f(x) has one output per class, E(x) = −logsumexp f(x) (JEM)
    jem_gen_weight: float = 1.0        # weight w of the PCD term in the JEM loss (0: a plain classifier)
    alpha: float = 0.1                 # energy-magnitude regulariser (pcd / cd)
    sgld_steps: int = 30
    sgld_step_size: float = 0.01
    sgld_noise: float | None = None    # None: √ε (exact Langevin); smaller values sharpen negatives
    sgld_clip_grad: float | None = None  # clamp each coordinate of ∇E to ±c in SGLD (Du & Mordatch's images)
    buffer_size: int = 10000
    reinit_prob: float = 0.05
    init_range: float = 4.0            # fresh chains ~ U[−r, r]^D (images: r = 1 and chains are clamped)
    chain_init: str = "uniform"        # uniform | gaussian: fresh chains ~ N(μ, (1.2σ)²) fitted to the data
    dsm_sigma: float = 0.1
    ssm_projections: int = 1
    sample_steps: int = 200
    sampler: str = "sgld"              # sgld | mala (for sample())
    log_z_method: str = "ais"          # ais | grid (2-D) | nce
    ais_chains: int = 256
    ais_temps: int = 500
    ais_base_std: float = 3.0
    betas: tuple[float, float] = (0.9, 0.999)  # Adam; β₁ = 0 is the usual EBM choice for images
    ais_transition: str = "mala"       # mala | hmc
    grid_size: int = 400
    grid_range: float = 8.0


def energy_net(c: EBMConfig, arch: str) -> nn.Module:
    if arch == "mlp":
        layers: list[nn.Module] = [nn.Flatten()]
        d = math.prod(c.shape)
        for _ in range(c.depth):
            layers += [nn.Linear(d, c.hidden), nn.SiLU()]
            d = c.hidden
        return nn.Sequential(*layers, nn.Linear(d, max(1, c.num_classes)))
    ch, (cin, h, w) = c.channels, c.shape
    return nn.Sequential(
        nn.Conv2d(cin, ch, 3, 1, 1), nn.SiLU(), nn.Conv2d(ch, 2 * ch, 4, 2, 1), nn.SiLU(),
        nn.Conv2d(2 * ch, 4 * ch, 4, 2, 1), nn.SiLU(), nn.Flatten(),
        nn.Linear(4 * ch * (h // 4) * (w // 4), c.hidden), nn.SiLU(), nn.Linear(c.hidden, max(1, c.num_classes)))


@register_model("ebm")
class EBM(GenerativeModel):
    config_class = EBMConfig
    data_kinds = ("2d", "image", "tabular")
    log_prob_kind = "estimate"
    manual_optimization = True
    default_budget = {"steps": 2000, "batch_size": 256, "lr": 1e-3}
    #: 2-D: 1000 steps without EMA, the settings of the 2-D NLL figures (benchmarks/results/ebm.md)
    kind_defaults = {"2d": {"budget": {"steps": 1000, "batch_size": 256, "lr": 1e-3, "ema_decay": None}}}

    def __init__(self, config: EBMConfig):
        super().__init__(config)
        c = config
        if c.objective not in OBJECTIVES:
            raise ConfigError(f"unknown EBM objective {c.objective!r}; choose one of {', '.join(OBJECTIVES)}")
        if c.log_z_method not in ("ais", "grid", "nce"):
            raise ConfigError(f"unknown log_z_method {c.log_z_method!r}; choose ais, grid or nce")
        if c.chain_init not in ("uniform", "gaussian"):
            raise ConfigError(f"unknown chain_init {c.chain_init!r}; choose uniform or gaussian")
        if c.sampler not in ("sgld", "mala"):
            raise ConfigError(f"unknown sampler {c.sampler!r}; choose sgld or mala")
        if c.num_classes < 0 or (c.objective == "jem" and c.num_classes < 2):
            raise ConfigError(f"objective=jem needs num_classes >= 2, got {c.num_classes}; "
                              "gz.build('ebm', data=<labelled data>, objective='jem') fills it from the data")
        arch = c.arch if c.arch != "auto" else ("conv" if len(c.shape) == 3 else "mlp")
        if arch == "conv" and (len(c.shape) != 3 or c.shape[1] % 4 or c.shape[2] % 4):
            raise ConfigError(f"arch=conv needs (C, H, W) images with H, W divisible by 4, got {tuple(c.shape)}")
        self.is_image = len(c.shape) == 3
        self.net = energy_net(c, arch)
        if c.spectral_norm:
            apply_spectral_norm(self.net)
        # NCE: learnt log-normaliser c and the fitted Gaussian noise distribution
        self.nce_log_z = nn.Parameter(torch.zeros(()))
        d = math.prod(c.shape)
        self.register_buffer("noise_mean", torch.zeros(d))
        self.register_buffer("noise_std", torch.ones(d))
        self.register_buffer("noise_fitted", torch.tensor(False))
        self.replay_buffer: Tensor | None = None
        self._log_z_cache: tuple[Any, tuple[float, float]] | None = None

    # --- building ----------------------------------------------------------------------------
    @classmethod
    def config_for_data(cls, data, **overrides: Any) -> EBMConfig:
        base: dict[str, Any] = {}
        if data is not None:
            base["shape"] = tuple(data.shape)
            if overrides.get("objective") == "jem" and getattr(data, "num_classes", None):
                base["num_classes"] = data.num_classes
            if data.kind == "image":
                # Du & Mordatch 2019: a step of 10·∇E with ∇E clipped to ±0.03, noise 0.005, Adam β₁ = 0;
                # fresh chains from a data-fitted Gaussian (informative init) instead of U[−1, 1]
                base.update(init_range=1.0, prior_std=0.0, ais_base_std=0.5, sgld_step_size=20.0, sgld_noise=0.005,
                            sgld_steps=40, sgld_clip_grad=0.03, alpha=0.1, betas=(0.0, 0.999), chain_init="gaussian")
            else:
                r = float(data.x.abs().max()) * 1.1
                base.update(init_range=r, grid_range=2 * r, prior_std=2 * r, ais_base_std=r / 1.5)
        return EBMConfig.from_dict({**base, **overrides})

    @classmethod
    def contract_fixture(cls):
        config = EBMConfig(shape=(2,), hidden=16, depth=2, sgld_steps=3, buffer_size=64, sample_steps=3,
                           ais_chains=16, ais_temps=8)
        return config, torch.randn(16, 2, generator=torch.Generator().manual_seed(0))

    # --- energy ------------------------------------------------------------------------------
    def energy(self, x: Tensor, y: Tensor | int | None = None) -> Tensor:
        """E_θ(x), shape (N,); with classes E(x) = −logsumexp_y f(x)[y], or E(x, y) = −f(x)[y] given ``y``."""
        return self._energy_from_output(self.net(x), x, y)

    def _energy_from_output(self, out: Tensor, x: Tensor, y: Tensor | int | None = None) -> Tensor:
        if not self.config.num_classes:
            if y is not None:
                raise ConfigError(NO_CLASSES)
            e = out.squeeze(1)
        elif y is None:
            e = -torch.logsumexp(out, 1)
        else:
            e = -out.gather(1, self._labels(y, len(x)).view(-1, 1)).squeeze(1)
        if self.config.prior_std:
            e = e + 0.5 * x.flatten(1).pow(2).sum(1) / self.config.prior_std ** 2
        return e

    def _labels(self, y: Tensor | int, n: int) -> Tensor:
        k = self.config.num_classes
        if not k:
            raise ConfigError(NO_CLASSES)
        y = torch.as_tensor(y, dtype=torch.long, device=model_device(self)).flatten()
        y = y.expand(n) if y.numel() == 1 else y
        if y.numel() != n or y.min() < 0 or y.max() >= k:
            raise ConfigError(f"y must be one label or {n} labels in 0..{k - 1}")
        return y

    def classify(self, x: Tensor, *, probs: bool = False) -> Tensor:
        """JEM classifier: logits f(x) (N, num_classes), or p(y|x) = softmax(f(x)) with ``probs=True``."""
        if not self.config.num_classes:
            raise NotSupported("this EBM has no classes; build it with objective=jem to classify")
        with torch.no_grad():
            logits = self.net(x.float())
        return logits.softmax(1) if probs else logits

    def _bounds(self) -> tuple[float, float] | None:
        return (-1.0, 1.0) if self.is_image else None

    def _fresh(self, n: int, generator=None, per_example: bool = True) -> Tensor:
        """Chain starts: U[−r, r]^D, or (``chain_init=gaussian``, once fitted) N(μ, diag (1.2σ)²) in the box.
        Without a generator, ``per_example`` rows are a batch's (``nn.batch_noise``); else (a new replay
        buffer) every data-parallel rank draws the same n rows."""
        c, device = self.config, model_device(self)
        shared = generator is not None or not per_example
        if c.chain_init == "gaussian" and bool(self.noise_fitted):
            d = self.noise_mean.numel()
            z = randn((n, d), generator=generator, device=device) if shared else batch_randn(n, d, device=device)
            x = (self.noise_mean + self.noise_std * z).view(n, *c.shape)
            return x.clamp(*self._bounds()) if self.is_image else x
        u = rand((n, *c.shape), generator=generator, device=device) if shared else batch_rand(n, *c.shape, device=device)
        return (2 * u - 1) * c.init_range

    def langevin(self, x0: Tensor, steps: int, generator=None, energy=None) -> Tensor:
        c = self.config
        return sgld(energy or self.energy, x0, steps, c.sgld_step_size, noise=c.sgld_noise, generator=generator,
                    clip_grad=c.sgld_clip_grad, bounds=self._bounds())

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, steps: int | None = None,
               sampler: str | None = None, y: Tensor | int | None = None, from_buffer: bool = False,
               **kw: Any) -> Tensor:
        """Langevin (or MALA) chains from uniform noise, or from random replay-buffer rows
        (``from_buffer=True``); ``steps`` defaults to ``sample_steps``. With ``y`` (JEM) the chains
        run on the class-conditional energy E(x, y) = −f(x)[y]."""
        c = self.config
        steps = c.sample_steps if steps is None else steps
        energy = self.energy if y is None else (lambda x, y=self._labels(y, n): self.energy(x, y))
        if from_buffer:
            if self.replay_buffer is None:
                raise NotSupported("from_buffer=True needs a replay buffer; train with objective=pcd or jem first")
            idx = (rand((n,), generator=generator, device=model_device(self)) * len(self.replay_buffer)).long()
            x0 = self.replay_buffer[idx]
        else:
            x0 = self._fresh(n, generator)
        if (sampler or c.sampler) == "mala":
            x, _ = mala(energy, x0, steps, c.sgld_step_size, generator=generator, adapt_steps=steps // 2)
            return x.clamp(*self._bounds()) if self.is_image else x
        return self.langevin(x0, steps, generator, energy)

    # --- objectives ---------------------------------------------------------------------------
    def negatives(self, x: Tensor, *, update_buffer: bool) -> Tensor:
        """Negative samples: short-run SGLD from the replay buffer (pcd) or from the data (cd)."""
        c = self.config
        if c.objective == "cd":
            return self.langevin(x, c.sgld_steps)
        if c.chain_init == "gaussian":
            self._fit_noise(x)
        if self.replay_buffer is None:
            self.replay_buffer = self._fresh(c.buffer_size, per_example=False)
        idx = batch_randint(0, len(self.replay_buffer), len(x), device=x.device)
        fresh = batch_rand(len(x), device=x.device) < c.reinit_prob
        x0 = torch.where(fresh.view(-1, *([1] * (x.dim() - 1))), self._fresh(len(x)), self.replay_buffer[idx])
        neg = self.langevin(x0, c.sgld_steps)
        if update_buffer:  # every data-parallel rank writes the whole global batch's chains
            self.replay_buffer[global_batch(idx)] = global_batch(neg.detach())
        return neg

    def _fit_noise(self, x: Tensor) -> None:
        if not bool(self.noise_fitted):
            flat = global_batch(x).flatten(1)
            self.noise_mean.copy_(flat.mean(0))
            self.noise_std.copy_(flat.std(0).clamp_min(1e-3) * 1.2)
            self.noise_fitted.fill_(True)

    def _noise_log_prob(self, u: Tensor) -> Tensor:
        z = (u.flatten(1) - self.noise_mean) / self.noise_std
        return (-0.5 * z.pow(2) - self.noise_std.log() - 0.5 * math.log(2 * math.pi)).sum(1)

    def objective_loss(self, x: Tensor, y: Tensor | None = None, *,
                       update_buffer: bool = False) -> tuple[Tensor, dict[str, float]]:
        c = self.config
        if c.objective == "jem":
            return self._jem_loss(x, y, update_buffer)
        if c.objective in ("pcd", "cd"):
            return self._contrastive_loss(x, self.energy(x), update_buffer)
        if c.objective == "ssm":
            loss = sliced_score_matching(energy_score(self.energy), x, c.ssm_projections)
            return loss, {"ssm": loss.item()}
        if c.objective == "dsm":
            loss = denoising_score_matching(energy_score(self.energy), x, c.dsm_sigma)
            return loss, {"dsm": loss.item()}
        self._fit_noise(x)
        noise = self.noise_mean + self.noise_std * batch_randn(len(x), self.noise_mean.numel(), device=x.device)
        noise = noise.view(len(x), *c.shape)
        logit = lambda u: -self.energy(u) - self.nce_log_z - self._noise_log_prob(u)  # noqa: E731
        loss = F.softplus(-logit(x)).mean() + F.softplus(logit(noise)).mean()
        return loss, {"nce": loss.item(), "nce_log_z": self.nce_log_z.item()}

    def _contrastive_loss(self, x: Tensor, e_pos: Tensor, update_buffer: bool) -> tuple[Tensor, dict[str, float]]:
        """L = E(x⁺) − E(x⁻) + α(E(x⁺)² + E(x⁻)²) with SGLD negatives x⁻ (pcd / cd / jem)."""
        neg = self.negatives(x, update_buffer=update_buffer)
        e_neg = self.energy(neg)
        cd = e_pos.mean() - e_neg.mean()
        reg = (e_pos.pow(2) + e_neg.pow(2)).mean()
        return cd + self.config.alpha * reg, {"cd": cd.item(), "e_pos": e_pos.mean().item(), "e_neg": e_neg.mean().item()}

    def _jem_loss(self, x: Tensor, y: Tensor | None, update_buffer: bool) -> tuple[Tensor, dict[str, float]]:
        """JEM: cross-entropy of softmax(f(x)) on the labels + w · PCD on E(x) = −logsumexp f(x)."""
        if y is None:
            raise DataError("objective=jem trains on labelled batches (x, y); this batch has no labels")
        logits = self.net(x)
        ce = F.cross_entropy(logits, y.long())
        logs = {"ce": ce.item(), "acc": (logits.argmax(1) == y).float().mean().item()}
        if not self.config.jem_gen_weight:
            return ce, logs
        gen, gen_logs = self._contrastive_loss(x, self._energy_from_output(logits, x), update_buffer)
        return ce + self.config.jem_gen_weight * gen, {**logs, **gen_logs}

    def loss(self, batch) -> dict[str, Tensor]:
        """The objective on one batch (no replay-buffer update; training uses training_step)."""
        x, y = unpack_batch(batch)
        loss, _ = self.objective_loss(x.float(), y)
        return {"loss": loss}

    def configure_optimizers(self, lr: float, weight_decay: float = 0.0, betas=None) -> list[torch.optim.Optimizer]:
        """One AdamW with ``betas`` from the config unless given."""
        return super().configure_optimizers(lr, weight_decay, tuple(betas or self.config.betas))

    def training_step(self, batch, step: int, *, optimizers: list[torch.optim.Optimizer]) -> dict[str, float]:
        (opt,) = optimizers
        x, y = unpack_batch(batch)
        loss, logs = self.objective_loss(x.float(), y, update_buffer=True)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.item(), **logs}

    def extra_state_tensors(self) -> dict[str, Tensor]:
        return {} if self.replay_buffer is None else {"replay_buffer": self.replay_buffer}

    def load_extra_state_tensors(self, tensors: dict[str, Tensor]) -> None:
        if "replay_buffer" in tensors:
            self.replay_buffer = tensors["replay_buffer"].to(model_device(self)).clone()

    # --- likelihood ---------------------------------------------------------------------------
    def log_z_grid(self, size: int | None = None, half_width: float | None = None) -> float:
        """log ∫ exp(−E) by the midpoint rule on a size × size grid over [−w, w]² (2-D only)."""
        if self.config.shape != (2,):
            raise NotSupported("grid integration of log Z needs 2-D data; use log_z_method=ais")
        n, w = size or self.config.grid_size, half_width or self.config.grid_range
        h = 2 * w / n
        t = -w + h * (torch.arange(n, dtype=torch.float64) + 0.5)
        pts = torch.cartesian_prod(t, t).to(model_device(self))
        with torch.no_grad():
            neg_e = torch.cat([-self.energy(p.float()).double() for p in pts.split(65536)])
        return (torch.logsumexp(neg_e, 0) + 2 * math.log(h)).item()

    def log_partition(self, method: str | None = None) -> tuple[float, float]:
        """``(log Z, standard error)`` by ``method`` (default ``log_z_method``); cached per weights."""
        method = method or self.config.log_z_method
        key = (method, tuple((id(p), p._version) for p in self.parameters()))
        if self._log_z_cache is not None and self._log_z_cache[0] == key:
            return self._log_z_cache[1]
        c = self.config
        if method == "grid":
            value = (self.log_z_grid(), 0.0)
        elif method == "nce":
            value = (self.nce_log_z.item(), float("nan"))
        else:
            device = model_device(self)
            value = ais_log_z(self.energy, c.shape, n_chains=c.ais_chains, n_temps=c.ais_temps, base_std=c.ais_base_std,
                              transition=c.ais_transition, step_size=0.5 * c.ais_base_std ** 2,
                              generator=torch.Generator(device).manual_seed(0), device=device)
        self._log_z_cache = (key, value)
        return value

    def log_prob(self, x: Tensor) -> Tensor:
        """−E(x) − log Ẑ: an estimate (AIS, with standard error ``log_partition()[1]``)."""
        log_z, _ = self.log_partition()
        with torch.no_grad():
            return -self.energy(x.float()) - log_z
