"""Generative adversarial networks (Goodfellow et al. 2014) with their stabilisers and
mode-collapse mitigations, all as config switches.

The game:   min_G max_D  V(D, G) = E_x[log D(x)] + E_z[log(1 − D(G(z)))]
Losses (``loss=``, see ``genzoo.objectives.gan_losses``): ``minimax`` (the saturating game above),
``ns`` (non-saturating G: −E log D(G(z))), ``hinge``, ``lsgan`` (Mao et al. 2017), ``wgan-gp``
(critic E[D(G(z))] − E[D(x)] + λ E[(‖∇D(x̂)‖ − 1)²], Gulrajani et al. 2017); ``r1=γ`` adds
γ/2 E‖∇_x D(x)‖² on real data (Mescheder et al. 2018).

Stabilisers: spectral normalisation of D (Miyato et al. 2018), two time-scale updates (separate
learning rates ``lr_d_mult`` and ``n_critic`` D steps per G step, Heusel et al. 2017), an EMA of G
(the Trainer keeps an EMA of all weights and copies it in at the end), DiffAugment for images.

Mode-collapse mitigations (each a switch): ``minibatch_disc=K`` (Salimans et al. 2016), ``mbstd``
(Karras et al. 2018), ``unrolled=k`` (Metz et al. 2017), ``mode_seeking=λ`` (Mao et al. 2019),
``n_generators=K`` (MGAN, Hoang et al. 2018: K generators, a K-way classifier head on D, G adds
β·CE(C(G_k(z)), k) so the generators specialise on different modes), ``pack=k`` (PacGAN, Lin et al.
2018: D judges k samples concatenated, real with real and fake with fake; the batch must be
divisible by k).

Architectures: MLP (2-D, tabular), DCGAN conv (8x8 / 16x16 images), class-conditional G with a
projection discriminator when ``num_classes > 0``.

Training is a game, so the family sets ``manual_optimization``: ``configure_optimizers`` returns
[opt_G, opt_D] and ``training_step`` does one D update, and one G update every ``n_critic`` steps.
A GAN has no likelihood: ``log_prob`` raises ``NotSupported``; evaluate with sample-based metrics.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from ..errors import ConfigError, NotSupported
from ..model import GenerativeModel, ModelConfig
from ..objectives.gan_losses import LOSSES, gradient_penalty, r1_penalty
from ..registry import register_model
from ..utils import model_device, rand, randn, unpack_batch
from ..nn.batch_noise import batch_rand, batch_randn
from .gan_mitigations import diff_augment, mode_seeking_loss, unrolled_discriminator_state
from .gan_nets import Discriminator, Generator, apply_spectral_norm, grouped_forward, pack_samples, packed_shape, table_head


@dataclass
class GANConfig(ModelConfig):
    shape: tuple[int, ...] = (2,)
    arch: str = "auto"              # "mlp" | "dcgan"; auto: dcgan for (C, H, W), mlp otherwise
    z_dim: int = 16
    hidden: int = 128               # MLP width / D feature width
    depth: int = 3                  # MLP hidden layers
    channels: int = 32              # DCGAN base channels
    num_classes: int = 0            # > 0: class-conditional G, projection D
    loss: str = "ns"                # minimax | ns | hinge | lsgan | wgan-gp
    gp_weight: float = 10.0         # λ of the WGAN-GP penalty
    r1: float = 0.0                 # γ of the R1 penalty
    n_critic: int = 1               # D updates per G update
    lr_d_mult: float = 1.0          # lr_D = lr * lr_d_mult (two time-scale rule)
    betas: tuple[float, float] = (0.5, 0.999)
    spectral_norm: bool = False
    diffaug: str = ""               # e.g. "color,translation,cutout" (images only)
    minibatch_disc: int = 0         # number of minibatch-discrimination kernels
    mbstd: bool = False             # minibatch standard-deviation feature
    unrolled: int = 0               # k unrolled D steps for the G update
    unroll_lr: float = 0.05         # SGD step size of the unrolled D
    mode_seeking: float = 0.0       # λ of the mode-seeking regulariser
    n_generators: int = 1           # > 1: MGAN
    mgan_beta: float = 0.5          # β of the MGAN generator-classification term
    pack: int = 1                   # PacGAN: D judges ``pack`` samples at once (1 = plain D)
    table_blocks: tuple[int, ...] = ()  # tables: (start, width, ...) of the one-hot blocks (gan_nets.table_head)


@register_model("gan")
class GAN(GenerativeModel):
    config_class = GANConfig
    data_kinds = ("2d", "image", "tabular")
    log_prob_kind = "none"
    manual_optimization = True
    default_budget = {"steps": 3000, "batch_size": 256, "lr": 5e-4}
    #: 2-D data (issue 21): MGAN with 25 generators + minibatch stddev, TTUR. At the 3-CPU-minute
    #: budget a single generator (plain, packed with pack=4, R1, TTUR up to 10x) stayed at 0-1/25
    #: modes with ~2% high-quality samples on 25gaussians (σ = 0.05): it spreads over the square and
    #: does not sharpen within 4000 steps; benchmarks/results/gan.md has the figures and the per-seed
    #: table of ``benchmarks/gan_defaults.py``. The Trainer's EMA of the weights (0.999) and cosine decay
    #: are kept: the EMA generator had e.g. 0.85 vs 0.65 high-quality samples for the raw one.
    kind_defaults = {"2d": {"budget": {"steps": 7000, "batch_size": 256, "lr": 1e-3},
                            "config": {"n_generators": 25, "mbstd": True, "lr_d_mult": 2.0, "hidden": 64}},
                     #: tables: conditional on the table's label column (CTGAN's conditional vector, without its
                     #: training-by-sampling) when it has one; CTGAN's width 256
                     "tabular": {"config": {"conditional": "auto", "hidden": 256, "depth": 2}}}

    def __init__(self, config: GANConfig):
        super().__init__(config)
        c = config
        if c.loss not in LOSSES:
            raise ConfigError(f"unknown GAN loss {c.loss!r}; choose one of {', '.join(LOSSES)}")
        arch = c.arch if c.arch != "auto" else ("dcgan" if len(c.shape) == 3 else "mlp")
        if arch not in ("mlp", "dcgan"):
            raise ConfigError(f"unknown GAN arch {c.arch!r}; choose mlp, dcgan or auto")
        if c.n_generators < 1 or c.n_critic < 1 or c.pack < 1:
            raise ConfigError("n_generators, n_critic and pack must be >= 1")
        if c.pack > 1 and c.num_classes:
            raise ConfigError("pack > 1 works with unconditional GANs; drop pack= or conditional=")
        if c.diffaug and len(c.shape) != 3:
            raise ConfigError("diffaug works on images (C, H, W); set diffaug= for 2-D data")
        self.arch = arch
        self.generators = nn.ModuleList(
            Generator(c.shape, c.z_dim, arch, c.hidden, c.depth, c.channels, c.num_classes) for _ in range(c.n_generators))
        self.discriminator = Discriminator(packed_shape(c.shape, c.pack), arch, c.hidden, c.depth, c.channels, num_classes=c.num_classes,
                                           minibatch_disc=c.minibatch_disc, mbstd=c.mbstd, n_generators=c.n_generators,
                                           pack=c.pack)
        if c.spectral_norm:
            apply_spectral_norm(self.discriminator)
        self.d_loss_fn, self.g_loss_fn = LOSSES[c.loss]

    # --- building --------------------------------------------------------------------------
    @classmethod
    def config_for_data(cls, data, **overrides: Any) -> GANConfig:
        flag = str(overrides.pop("conditional", False)).lower()  # "auto": conditional when the data has labels
        conditional = flag in ("1", "true", "yes", "on") or (flag == "auto" and data is not None and bool(data.num_classes))
        base: dict[str, Any] = {}
        if data is not None:
            base["shape"] = tuple(data.shape)
            if getattr(data, "info", {}).get("transform") is not None:  # a table (data/tables.py): softmax heads on its one-hot blocks
                base["table_blocks"] = tuple(v for block in data.info["transform"].one_hot_blocks() for v in block)
            if conditional:
                if not data.num_classes:
                    raise ConfigError(f"dataset {data.name!r} has no labels; drop conditional=true")
                base["num_classes"] = data.num_classes
        return GANConfig.from_dict({**base, **overrides})

    @classmethod
    def contract_fixture(cls):
        config = GANConfig(shape=(2,), z_dim=4, hidden=16, depth=2)
        return config, torch.randn(16, 2, generator=torch.Generator().manual_seed(0))

    # --- generator -------------------------------------------------------------------------
    def generate(self, z: Tensor, y: Tensor | None = None, which: Tensor | None = None, generator=None) -> Tensor:
        """G(z, y); with several generators, row i comes from generator ``which[i]`` (the K
        generators run as one batched computation, ``gan_nets.grouped_forward``); on tables, CTGAN's
        output activations (``gan_nets.table_head``)."""
        x = self.generators[0](z, y) if len(self.generators) == 1 else grouped_forward(self.generators, z, y, which)
        if self.config.table_blocks:
            uniform = (lambda *s: batch_rand(*s, device=x.device)) if generator is None else \
                (lambda *s: rand(s, generator=generator, device=x.device))
            x = table_head(x, self.config.table_blocks, uniform)
        return x

    def _latents(self, n: int, y: Tensor | None, generator=None) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """z ~ N(0, I), a class per row when conditional (given or uniform), a generator index per row."""
        device = model_device(self)
        if generator is None:  # training noise: a data-parallel rank draws its rows of the global batch's
            normal, uniform = (lambda *s: batch_randn(*s, device=device)), (lambda *s: batch_rand(*s, device=device))
        else:
            normal = lambda *s: randn(s, generator=generator, device=device)  # noqa: E731
            uniform = lambda *s: rand(s, generator=generator, device=device)  # noqa: E731
        z = normal(n, self.config.z_dim)
        if self.config.num_classes and y is None:
            y = (uniform(n) * self.config.num_classes).long()
        which = None
        if self.config.n_generators > 1:
            which = (uniform(n) * self.config.n_generators).long()
        return z, y, which

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, y: Tensor | None = None, **kw: Any) -> Tensor:
        if y is not None:
            y = torch.as_tensor(y, device=model_device(self)).long().expand(n)
        z, y, which = self._latents(n, y, generator)
        return self.generate(z, y, which, generator)

    def log_prob(self, x: Tensor) -> Tensor:
        raise NotSupported("a GAN has no likelihood; evaluate it with sample-based metrics (fid, kid, prdc, mmd, modes)")

    # --- losses ------------------------------------------------------------------------------
    def _xy(self, batch) -> tuple[Tensor, Tensor | None]:
        x, y = unpack_batch(batch)
        if not self.config.num_classes:
            y = None
        elif y is None:
            raise ConfigError("this GAN is class-conditional (num_classes > 0) but the batch has no labels")
        return x.float(), y

    def _augment(self, x: Tensor) -> Tensor:
        return diff_augment(x, self.config.diffaug) if self.config.diffaug else x

    def _d_input(self, x: Tensor) -> Tensor:
        """What D sees: the (augmented) batch, packed ``pack`` samples per D input (PacGAN)."""
        return pack_samples(self._augment(x), self.config.pack)

    def _d_objective(self, disc, real: Tensor, fake: Tensor, y: Tensor | None, which: Tensor | None) -> tuple[Tensor, dict]:
        """The D loss (without penalties) for a callable ``disc(x, y) -> (logit, gen_logits)``."""
        r, _ = disc(self._d_input(real), y)
        f, gen_logits = disc(self._d_input(fake), y)
        loss = self.d_loss_fn(r, f)
        logs = {"d_real": r.mean().item(), "d_fake": f.mean().item()}
        if gen_logits is not None:
            cls = F.cross_entropy(gen_logits.reshape(len(which), -1), which)
            loss = loss + self.config.mgan_beta * cls
            logs["mgan_ce"] = cls.item()
        return loss, logs

    def discriminator_loss(self, real: Tensor, y: Tensor | None = None) -> tuple[Tensor, dict]:
        """L_D on a real batch against fresh fakes, with the WGAN-GP / R1 penalties."""
        z, y_fake, which = self._latents(len(real), y)
        with torch.no_grad():
            fake = self.generate(z, y_fake, which)
        loss, logs = self._d_objective(self.discriminator, real, fake, y, which)
        critic = lambda t: self.discriminator(t, y)[0]  # noqa: E731
        k = self.config.pack  # the penalties act on D's (packed) inputs
        if self.config.loss == "wgan-gp":
            gp = gradient_penalty(critic, pack_samples(real, k), pack_samples(fake, k))
            loss, logs["gp"] = loss + self.config.gp_weight * gp, gp.item()
        if self.config.r1:
            r1 = r1_penalty(critic, pack_samples(real, k))
            loss, logs["r1"] = loss + self.config.r1 * r1, r1.item()
        logs["d_loss"] = loss.item()
        return loss, logs

    def generator_loss(self, n: int, y: Tensor | None = None, real: Tensor | None = None) -> tuple[Tensor, dict]:
        """L_G on n fresh fakes (against the unrolled D when ``unrolled > 0``, which needs ``real``)."""
        c = self.config
        z, y, which = self._latents(n, y)
        fake = self.generate(z, y, which)
        disc = self.discriminator
        if c.unrolled:
            state = unrolled_discriminator_state(
                self.discriminator, lambda call: self._d_objective(call, real, fake, y, which)[0], c.unrolled, c.unroll_lr)
            disc = lambda x, y=None: functional_call(self.discriminator, state, (x, y))  # noqa: E731
        f, gen_logits = disc(self._d_input(fake), y)
        loss = self.g_loss_fn(f)
        logs: dict[str, float] = {}
        if c.mode_seeking:
            ms = mode_seeking_loss(z, fake)
            loss, logs["mode_seeking"] = loss + c.mode_seeking * ms, ms.item()
        if gen_logits is not None:
            loss = loss + c.mgan_beta * F.cross_entropy(gen_logits.reshape(len(which), -1), which)
        logs["g_loss"] = loss.item()
        return loss, logs

    def loss(self, batch) -> dict[str, Tensor]:
        """Both players' losses on one batch (for logging / validation; training uses training_step).
        With ``pack = k`` the last ``len(x) mod k`` examples are left out."""
        x, y = self._xy(batch)
        keep = len(x) - len(x) % self.config.pack
        x, y = x[:keep], (None if y is None else y[:keep])
        d_loss, _ = self.discriminator_loss(x, y)
        g_loss, _ = self.generator_loss(len(x), y, x)
        return {"loss": d_loss.detach() + g_loss.detach(), "d_loss": d_loss.detach(), "g_loss": g_loss.detach()}

    # --- the game ------------------------------------------------------------------------------
    def configure_optimizers(self, lr: float, weight_decay: float = 0.0, betas=None) -> list[torch.optim.Optimizer]:
        """[Adam(G), Adam(D)] with lr_D = lr · lr_d_mult; ``betas`` default to the config's (0.5, 0.999).

        The fused Adam kernel is used on CPU and CUDA: the same update to within float rounding, and
        on CPU 3-4x faster than the per-tensor loop, which was ~20% of a small 2-D GAN step."""
        betas = tuple(betas) if betas is not None else tuple(self.config.betas)
        fused = model_device(self).type in ("cpu", "cuda") or None
        opt_g = torch.optim.Adam(self.generators.parameters(), lr=lr, betas=betas, weight_decay=weight_decay, fused=fused)
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=lr * self.config.lr_d_mult, betas=betas,
                                 weight_decay=weight_decay, fused=fused)
        return [opt_g, opt_d]

    def training_step(self, batch, step: int, *, optimizers: list[torch.optim.Optimizer]) -> dict[str, float]:
        """One D update; one G update every ``n_critic`` steps."""
        opt_g, opt_d = optimizers
        x, y = self._xy(batch)
        d_loss, logs = self.discriminator_loss(x, y)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward(inputs=list(self.discriminator.parameters()))
        opt_d.step()
        if step % self.config.n_critic == 0:
            g_loss, g_logs = self.generator_loss(len(x), y, x)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward(inputs=list(self.generators.parameters()))
            opt_g.step()
            logs.update(g_logs)
        logs["loss"] = logs["d_loss"] + logs.get("g_loss", 0.0)
        return logs
