"""Shared base of the continuous-time families (``score-sde``, ``ncsn``, ``flow-matching``).

Not a model itself: it builds the network (the DDPM family's ``TimeMLP`` for vectors, ``UNet2D`` for
images, fed ``time_scale * t`` for continuous ``t in [0, 1]``), fills shapes from a dataset and turns
an ODE velocity field into ``log_prob`` through the instantaneous change of variables
(``samplers.likelihood_ode``)::

    log p(x) = log p_prior(x(t_prior)) + int_{t_data}^{t_prior} div v(x_t, t) dt

For quantised images (``levels`` set) ``log_prob`` is evaluated at ``x + u``, ``u ~ U(-D/2, D/2)^D``
with the bin width ``D = 2 / (levels - 1)`` drawn from a fixed seed (uniform dequantisation; the ``bpd``
metric adds ``D log D``), so the bits/dim are an upper bound in expectation (Theis et al. 2016).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import Tensor

from ..errors import ConfigError, DataError
from ..model import GenerativeModel, ModelConfig
from ..nn.mlp import TimeMLP
from ..nn.unet import UNet2D
from ..samplers.likelihood_ode import ode_log_prob
from ..utils import model_device, rand, randn


@dataclasses.dataclass
class ContinuousConfig(ModelConfig):
    shape: tuple[int, ...] = (2,)
    levels: int | None = None                # quantised data: dequantise in log_prob
    time_scale: float = 999.0                # the network sees time_scale * t (DDPM's timestep range)
    # likelihood ODE
    trace: str = "auto"                      # exact | hutchinson | auto (exact for <= 16 dims)
    ode_rtol: float = 1e-5
    ode_atol: float = 1e-5
    # network: U-Net for images, TimeMLP for vectors (same blocks as ddpm)
    hidden: int = 256
    depth: int = 4
    block_out_channels: tuple[int, ...] = (32, 64, 64)
    layers_per_block: int = 1
    attention_levels: tuple[int, ...] = (2,)
    norm_num_groups: int = 8
    attention_head_dim: int = 8
    dropout: float = 0.0


class ContinuousTimeModel(GenerativeModel):
    """Network + data handling + ODE likelihood; subclasses define the objective and the flow."""

    config_class = ContinuousConfig
    data_kinds = ("2d", "image", "tabular")

    def __init__(self, config: ContinuousConfig):
        super().__init__(config)
        c = config
        if self.is_image:
            self.net = UNet2D(in_channels=c.shape[0], block_out_channels=tuple(c.block_out_channels),
                              layers_per_block=c.layers_per_block, attention_levels=tuple(c.attention_levels),
                              norm_num_groups=c.norm_num_groups, attention_head_dim=c.attention_head_dim,
                              dropout=c.dropout)
        elif len(c.shape) == 1:
            self.net = TimeMLP(c.shape[0], hidden=c.hidden, depth=c.depth)
        else:
            raise ConfigError(f"{self.model_type} supports vectors (D,) or images (C, H, W), not shape {tuple(c.shape)}")

    @property
    def is_image(self) -> bool:
        return len(self.config.shape) == 3

    @classmethod
    def config_for_data(cls, data, **overrides: Any):
        values: dict[str, Any] = {}
        if data is not None:
            values["shape"] = tuple(data.shape)
            values["levels"] = data.levels
            if len(data.shape) == 3:
                h = data.shape[-1]
                n = 3 if h % 4 == 0 else (2 if h % 2 == 0 else 1)
                values.update(block_out_channels=(32, 64, 64)[:n], attention_levels=(n - 1,))
            values.update(cls.data_defaults(data))
        return cls.config_class.from_dict({**values, **overrides})

    @classmethod
    def data_defaults(cls, data) -> dict[str, Any]:
        """Family-specific config values read from the data (e.g. the VE sigma_max)."""
        return {}

    def net_out(self, x: Tensor, t: Tensor) -> Tensor:
        """The network at continuous time ``t`` (N,)."""
        return self.net(x, t * self.config.time_scale)

    def check_input(self, x: Tensor) -> None:
        if tuple(x.shape[1:]) != tuple(self.config.shape):
            raise DataError(f"{self.model_type} was built for examples of shape {tuple(self.config.shape)}, "
                            f"got {tuple(x.shape[1:])}; build the model for this dataset (config_for_data)")

    def noise(self, n: int, generator=None, std: float = 1.0) -> Tensor:
        return std * randn((n, *self.config.shape), generator=generator, device=model_device(self))

    def finish(self, x: Tensor) -> Tensor:
        return x.clamp(-1, 1) if self.is_image else x

    # --- likelihood -------------------------------------------------------------------------
    def flow(self):
        """``(velocity(x, t), t_data, t_prior, prior_log_prob)`` of the model's ODE."""
        raise NotImplementedError

    def dequantize(self, x: Tensor, generator: torch.Generator) -> Tensor:
        if not self.config.levels:
            return x
        width = 2.0 / (self.config.levels - 1)
        return x + (rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) - 0.5) * width

    def log_prob(self, x: Tensor, *, trace: str | None = None, generator: torch.Generator | None = None,
                 method: str = "dopri5", stats: dict | None = None, **_: Any) -> Tensor:
        """``log p(x)`` (N,) through the model's ODE (exact trace up to solver tolerance; Hutchinson
        for > 16 dims unless ``trace="exact"``); dequantised for quantised data; fixed seed 0 by default."""
        self.check_input(x)
        generator = generator if generator is not None else torch.Generator(x.device).manual_seed(0)
        x = self.dequantize(x, generator)
        velocity, t_data, t_prior, prior = self.flow()
        c = self.config
        return ode_log_prob(velocity, x, t_data, t_prior, prior, trace=trace or c.trace, generator=generator,
                            method=method, rtol=c.ode_rtol, atol=c.ode_atol, stats=stats)
