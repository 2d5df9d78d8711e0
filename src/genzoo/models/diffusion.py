"""DDPM: denoising diffusion probabilistic models (Ho, Jain & Abbeel 2020), registered as ``ddpm``.

Forward process ``q(x_t | x_0) = N(a_t x_0, s_t^2 I)`` with ``a_t^2 = alpha_bar_t = prod_s (1 - beta_s)``,
``s_t^2 = 1 - alpha_bar_t`` (beta schedules: linear, scaled-linear, cosine of Nichol & Dhariwal 2021).
A network ``f(x_t, t[, y])`` is trained with the simple loss, ``t ~ U{0..T-1}``, ``eps ~ N(0, I)``::

    L = E || f(a_t x_0 + s_t eps, t) - target ||^2 * w(t)
    target = eps (prediction=epsilon) | x_0 (sample) | v = a_t eps - s_t x_0 (v_prediction; Salimans & Ho 2022)

Min-SNR-gamma weighting (Hang et al. 2023), ``SNR = a_t^2 / s_t^2``: ``w = min(SNR, g) / SNR`` (eps),
``min(SNR, g)`` (x_0), ``min(SNR, g) / (SNR + 1)`` (v); off when ``min_snr_gamma = 0``.

Class-conditional models replace the label by a null class with probability ``label_dropout`` and
sample with classifier-free guidance (Ho & Salimans 2022): ``f = f(x, t, null) + w (f(x, t, y) - f(x, t, null))``.

Sampling uses the stateless samplers in ``genzoo.samplers``: DDPM ancestral, DDIM (Song et al. 2021),
DPM-Solver++(2M) (Lu et al. 2022), Euler / Heun with Karras sigmas (Karras et al. 2022).
``log_prob`` integrates the model's DDIM probability-flow ODE with the instantaneous change of variables
(Song et al. 2021; ``samplers/likelihood_ode.ddpm_log_prob``): exact up to the ODE tolerance for vector
data (exact trace), an unbiased Hutchinson estimate for images (docs/score.md).

Saved directories hold genzoo's ``config.json`` + ``model.safetensors`` and, for U-Nets, the diffusers
layout (``model_index.json``, ``scheduler/scheduler_config.json``, ``unet/config.json`` +
``unet/diffusion_pytorch_model.safetensors``), which diffusers' ``DDPMPipeline`` can load directly.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError, DataError
from ..model import GenerativeModel, ModelConfig
from ..nn.compile import compile_network
from ..nn.mlp import TimeMLP
from ..nn.unet import UNet2D, diffusers_config_from_unet_kwargs
from ..registry import register_model
from ..samplers.denoise import build_sampler, canonical_sampler, denoise
from ..samplers.noise_schedule import NoiseSchedule, canonical_prediction
from ..samplers.scheduler_config import to_diffusers
from ..serialization import save_tensors, write_json
from ..utils import model_device, randn, unpack_batch
from ..nn.batch_noise import batch_rand, batch_randint, batch_randn_like


@dataclasses.dataclass
class DDPMConfig(ModelConfig):
    shape: tuple[int, ...] = (2,)
    num_classes: int | None = None           # class-conditional when set
    null_class: bool = True                  # an extra "no label" embedding for classifier-free guidance
    label_dropout: float = 0.1
    # forward process and objective
    num_train_timesteps: int = 1000
    beta_schedule: str = "linear"            # linear | scaled_linear | cosine
    beta_start: float = 1e-4
    beta_end: float = 0.02
    prediction: str = "epsilon"              # epsilon | sample | v_prediction (aliases eps, x0, v)
    min_snr_gamma: float = 0.0
    # sampling defaults (overridable per call)
    sampler: str = "dpm++2m"                 # ddpm | ddim | dpm++2m | euler | heun
    sample_steps: int = 25
    timestep_spacing: str | None = None      # leading | trailing | linspace; None = the sampler's default
    steps_offset: int = 0
    eta: float = 0.0
    use_karras_sigmas: bool | None = None
    clip_sample: bool | None = None          # clip predicted x0 to [-1, 1]; None = images: clip and recompute
                                             # DDIM's eps from the clipped x0 (True/False: diffusers semantics)
    guidance_scale: float = 1.0
    # network: U-Net for images, TimeMLP for vectors
    block_out_channels: tuple[int, ...] = (32, 64, 64)
    layers_per_block: int = 1
    attention_levels: tuple[int, ...] = (2,)
    norm_num_groups: int = 8
    attention_head_dim: int = 8
    norm_eps: float = 1e-5
    mid_attention: bool = True
    flip_sin_to_cos: bool = True
    freq_shift: float = 0.0
    dropout: float = 0.0
    hidden: int = 256
    depth: int = 4


@register_model("ddpm")
class DDPM(GenerativeModel):
    config_class = DDPMConfig
    data_kinds = ("2d", "image", "tabular")
    log_prob_kind = "exact"
    default_budget = {"steps": 3000, "batch_size": 128, "lr": 1e-3}
    #: 2-D: the settings of the ODE-likelihood figure (benchmarks/results/score.md, results/defaults.md)
    kind_defaults = {"2d": {"budget": {"steps": 2500, "batch_size": 256, "lr": 2e-3}}}

    def __init__(self, config: DDPMConfig):
        super().__init__(config)
        c = config
        self.prediction = canonical_prediction(c.prediction)
        canonical_sampler(c.sampler)
        if c.num_classes is not None and c.num_classes < 1:
            raise ConfigError(f"num_classes={c.num_classes} must be a positive number of labels or None")
        self.schedule = NoiseSchedule.create(c.beta_schedule, c.num_train_timesteps, c.beta_start, c.beta_end)
        n_embeds = None if c.num_classes is None else c.num_classes + int(c.null_class)
        if self.is_image:
            self.net = UNet2D(**self.unet_kwargs())
        elif len(c.shape) == 1:
            self.net = TimeMLP(c.shape[0], hidden=c.hidden, depth=c.depth, num_class_embeds=n_embeds)
        else:
            raise ConfigError(f"ddpm supports vectors (D,) or images (C, H, W), not shape {tuple(c.shape)}")

    @property
    def is_image(self) -> bool:
        return len(self.config.shape) == 3

    def unet_kwargs(self) -> dict[str, Any]:
        c = self.config
        n_embeds = None if c.num_classes is None else c.num_classes + int(c.null_class)
        return dict(in_channels=c.shape[0], out_channels=c.shape[0], block_out_channels=tuple(c.block_out_channels),
                    layers_per_block=c.layers_per_block, attention_levels=tuple(c.attention_levels),
                    norm_num_groups=c.norm_num_groups, attention_head_dim=c.attention_head_dim,
                    num_class_embeds=n_embeds, dropout=c.dropout, norm_eps=c.norm_eps,
                    mid_attention=c.mid_attention, flip_sin_to_cos=c.flip_sin_to_cos, freq_shift=c.freq_shift)

    # --- building -------------------------------------------------------------------------
    @classmethod
    def config_for_data(cls, data, **overrides: Any) -> DDPMConfig:
        values: dict[str, Any] = {}
        if data is not None:
            values["shape"] = tuple(data.shape)
            if getattr(data, "num_classes", None) and getattr(data, "y", None) is not None:
                values["num_classes"] = data.num_classes
            if len(data.shape) == 1:  # vectors: v-prediction on the cosine schedule (25gaussians: 25/25
                values.update(prediction="v_prediction", beta_schedule="cosine")  # modes vs 13/25 for eps-linear)
            if len(data.shape) == 3:
                h = data.shape[-1]
                levels = 3 if h % 4 == 0 else (2 if h % 2 == 0 else 1)
                values.update(block_out_channels=(32, 64, 64)[:levels], attention_levels=(levels - 1,))
        return cls.config_class.from_dict({**values, **overrides})

    @classmethod
    def contract_fixture(cls):
        config = DDPMConfig(shape=(2,), hidden=32, depth=2, num_train_timesteps=100, sample_steps=5)
        return config, torch.randn(64, 2) * 0.5 + 1.0

    # --- training -------------------------------------------------------------------------
    def forward(self, x: Tensor, t, class_labels: Tensor | None = None) -> Tensor:
        """The network output (eps, x0 or v) at noisy ``x`` and timestep ``t``."""
        return self.net(x, t, class_labels)

    def check_input(self, x: Tensor) -> None:
        if tuple(x.shape[1:]) != tuple(self.config.shape):
            raise DataError(f"ddpm was built for examples of shape {tuple(self.config.shape)}, got {tuple(x.shape[1:])}; "
                            "build the model for this dataset (config_for_data)")

    def loss(self, batch) -> dict[str, Tensor]:
        x0, y = unpack_batch(batch)
        self.check_input(x0)
        return self.denoising_loss(x0, lambda xt, t: self.net(xt, t, self.training_labels(y, x0.shape[0], x0.device)))

    def denoising_loss(self, x0: Tensor, net_fn) -> dict[str, Tensor]:
        """The simple loss of the module docstring; ``net_fn(x_t, t)`` is the (conditioned) network."""
        n = x0.shape[0]
        t = batch_randint(0, self.config.num_train_timesteps, n, device=x0.device)
        noise = batch_randn_like(x0)
        xt = self.schedule.add_noise(x0, noise, t)
        out = net_fn(xt, t)
        target = {"epsilon": noise, "sample": x0, "v_prediction": None}[self.prediction]
        if target is None:
            target = self.schedule.velocity(x0, noise, t)
        per_example = F.mse_loss(out.float(), target.float(), reduction="none").flatten(1).mean(1)
        mse = per_example.mean()
        if self.config.min_snr_gamma > 0:
            per_example = per_example * self.min_snr_weight(t)
        return {"loss": per_example.mean(), "mse": mse.detach()}

    def min_snr_weight(self, t: Tensor) -> Tensor:
        snr = self.schedule.snr(t)
        clipped = snr.clamp(max=self.config.min_snr_gamma)
        return {"epsilon": clipped / snr, "sample": clipped, "v_prediction": clipped / (snr + 1)}[self.prediction]

    def training_labels(self, y: Tensor | None, n: int, device) -> Tensor | None:
        """Labels with probability ``label_dropout`` replaced by the null class (index ``num_classes``)."""
        c = self.config
        if c.num_classes is None:
            return None
        if y is None:
            raise DataError("this ddpm is class-conditional (num_classes set) but the batch has no labels; pass (x, y)")
        y = y.to(device).long()
        if c.null_class and c.label_dropout > 0:
            drop = batch_rand(n, device=device) < c.label_dropout
            y = torch.where(drop, torch.full_like(y, c.num_classes), y)
        return y

    def likelihood_labels(self, x: Tensor) -> Tensor | None:
        """Checks ``x``; the null-class labels that make a conditional network unconditional (for log_prob)."""
        self.check_input(x)
        c = self.config
        if c.num_classes is None:
            return None
        if not c.null_class:
            raise ConfigError(f"log_prob of a class-conditional {self.model_type} needs a null class (train with label dropout)")
        return torch.full((x.shape[0],), c.num_classes, device=x.device, dtype=torch.long)

    def configure_optimizers(self, lr: float, weight_decay: float = 0.0, betas=(0.9, 0.999)):
        fused = model_device(self).type in ("cpu", "cuda")
        return [torch.optim.AdamW(self.parameters(), lr=lr, weight_decay=weight_decay, betas=betas, fused=fused)]

    # --- sampling -------------------------------------------------------------------------
    def make_sampler(self, sampler: str | None = None, steps: int | None = None, **overrides: Any):
        """The sampler configured by this model's defaults, updated by ``overrides``."""
        c = self.config
        name = canonical_sampler(sampler or c.sampler)
        if steps is None:
            steps = c.num_train_timesteps if name == "ddpm" and sampler is not None else c.sample_steps
        auto_clip = c.clip_sample is None and self.is_image  # genzoo default: consistent clipped x0 and eps
        opts = dict(prediction=self.prediction, timestep_spacing=c.timestep_spacing, steps_offset=c.steps_offset,
                    eta=c.eta, clip_sample=auto_clip or bool(c.clip_sample), use_clipped_model_output=auto_clip,
                    use_karras_sigmas=c.use_karras_sigmas)
        opts.update({k: v for k, v in overrides.items() if v is not None})
        return build_sampler(name, self.schedule, steps, **opts)

    def guided_fn(self, class_labels: Tensor | None, guidance_scale: float):
        """``fn(x, t)`` for the samplers: the network, with classifier-free guidance when scale != 1."""
        if class_labels is None or guidance_scale == 1.0:
            return lambda x, t: self.net(x, t, class_labels)
        null = torch.full_like(class_labels, self.config.num_classes)
        labels = torch.cat([class_labels, null])

        def fn(x: Tensor, t) -> Tensor:
            cond, uncond = self.net(torch.cat([x, x]), t, labels).chunk(2)
            return uncond + guidance_scale * (cond - uncond)

        return fn

    def log_prob(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """log p(x) through the probability-flow ODE (see the module docstring)."""
        from ..samplers.likelihood_ode import ddpm_log_prob

        return ddpm_log_prob(self, x, class_labels=y)

    def sample_labels(self, n: int, class_labels, guidance_scale: float, device) -> Tensor | None:
        c = self.config
        if c.num_classes is None:
            if class_labels is not None:
                raise ConfigError("class_labels given but this ddpm is unconditional; train with num_classes to condition")
            if guidance_scale != 1.0:
                raise ConfigError("guidance_scale needs a class-conditional model (num_classes); use guidance_scale=1")
            return None
        if guidance_scale != 1.0 and not c.null_class:
            raise ConfigError("guidance_scale != 1 needs a model trained with a null class (label dropout); use guidance_scale=1")
        if class_labels is None:
            return torch.arange(n, device=device) % c.num_classes
        labels = torch.as_tensor(class_labels, device=device).long().reshape(-1)
        if labels.numel() == 1:
            labels = labels.expand(n)
        if labels.numel() != n or labels.min() < 0 or labels.max() >= c.num_classes:
            raise ConfigError(f"class_labels must be {n} labels (or one) in 0..{c.num_classes - 1}")
        return labels

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, steps: int | None = None,
               sampler: str | None = None, guidance_scale: float | None = None, class_labels=None,
               eta: float | None = None, timestep_spacing: str | None = None, noise: Tensor | None = None,
               callback=None, bf16: bool = False, compile: bool | str = False) -> Tensor:
        """``n`` samples in data space; defaults from the config (``sampler``, ``sample_steps``).

        ``bf16=True`` runs the network under bfloat16 autocast (the sampler arithmetic stays float32).
        ``compile=True`` (or an inductor mode name) compiles ``self.net`` in place with ``torch.compile``
        (``genzoo.nn.compile``) before sampling; later calls reuse it. One-time cost on the first call:
        ~37 s on an idle 2-core EPYC for the 32x32 bench U-Net (~4 s in a later process, from the on-disk
        cache); then DDIM runs 1.01-1.12x faster than eager (~1.05x typical; benchmarks/results/diffusion.md),
        so it pays off only for long jobs. Training is not offered: it measured 1.01x.
        """
        device = model_device(self)
        if compile:
            compile_network(self.net, None if compile is True else compile)
        scale = self.config.guidance_scale if guidance_scale is None else float(guidance_scale)
        labels = self.sample_labels(n, class_labels, scale, device)
        smp = self.make_sampler(sampler, steps, eta=eta, timestep_spacing=timestep_spacing)
        if noise is None:
            noise = randn((n, *self.config.shape), generator=generator, device=device)
        fn = self.guided_fn(labels, scale)
        if bf16:
            plain = fn

            def fn(x: Tensor, t) -> Tensor:
                with torch.autocast(device.type, dtype=torch.bfloat16):
                    return plain(x, t).float()
        x = denoise(fn, smp, noise, generator=generator, callback=callback)
        return x.clamp(-1, 1) if self.is_image else x

    # --- persistence: the diffusers layout beside genzoo's -----------------------------------
    def scheduler_config(self) -> dict[str, Any]:
        c = self.config
        schedule = dict(num_train_timesteps=c.num_train_timesteps, beta_start=c.beta_start, beta_end=c.beta_end,
                        beta_schedule=c.beta_schedule, prediction_type=self.prediction)
        options = dict(timestep_spacing=c.timestep_spacing, steps_offset=c.steps_offset, use_karras_sigmas=c.use_karras_sigmas,
                       clip_sample=self.is_image if c.clip_sample is None else c.clip_sample)
        return to_diffusers(canonical_sampler(c.sampler), schedule, options)

    def save_extra(self, path) -> None:
        path = Path(path)
        (path / "scheduler").mkdir(exist_ok=True)
        write_json(path / "scheduler" / "scheduler_config.json", self.scheduler_config())
        if not self.is_image:
            return
        (path / "unet").mkdir(exist_ok=True)
        write_json(path / "unet" / "config.json", diffusers_config_from_unet_kwargs(self.unet_kwargs(), self.config.shape[-1]))
        save_tensors(self.net.state_dict(), path / "unet" / "diffusion_pytorch_model.safetensors", metadata={"format": "pt"})
        write_json(path / "model_index.json", {"_class_name": "DDPMPipeline", "_diffusers_version": "0.42.1",
                                               "scheduler": ["diffusers", self.scheduler_config()["_class_name"]],
                                               "unet": ["diffusers", "UNet2DModel"]})
