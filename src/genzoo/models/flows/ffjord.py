"""FFJORD ``ffjord``: a continuous normalizing flow (Chen et al. 2018, "Neural Ordinary Differential
Equations"; Grathwohl et al. 2019, "FFJORD", arXiv:1810.01367).

The data x = z(0) flows along dz/dt = f_θ(z, t) to z(T); the log-density obeys the instantaneous
change of variables d log p(z(t))/dt = -tr(∂f/∂z), hence

    log p(x) = log N(z(T); 0, I) + ∫_0^T tr(∂f_θ(z(t), t)/∂z(t)) dt.

The trace is exact (D vector-Jacobian products; the default for D <= ``exact_trace_max_dim``,
e.g. 2-D data) or Hutchinson's unbiased estimate tr(J) = E_ε[εᵀ J ε] with Rademacher ε (one
vector-Jacobian product; training on larger D). The ODE is solved by ``genzoo.samplers.ode``:
fixed-step RK4 while training (backpropagation through the solver), adaptive dopri5 for
``log_prob`` and ``sample``. f_θ is an MLP with the time fed to every layer (concat-squash-lite).
An ActNorm layer standardises the data first. Sampling integrates from T back to 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ...errors import ConfigError
from ...registry import register_model
from ...samplers.ode import odeint
from .actnorm import ActNorm
from .base import Compose, Transform
from .model import FlowConfig, FlowModel


@dataclass
class FFJORDConfig(FlowConfig):
    hidden: tuple[int, ...] = (64, 64, 64)
    time_length: float = 1.0
    train_solver: str = "rk4"      # "rk4" (fixed steps) or "dopri5" while training
    train_steps: int = 8
    solver: str = "dopri5"         # for log_prob / sample in eval mode
    rtol: float = 1e-5
    atol: float = 1e-5
    exact_trace_max_dim: int = 8   # exact trace up to this many dimensions, Hutchinson above
    normalize: bool = True


class TimeMLP(nn.Module):
    """f(z, t): an MLP with softplus activations and t appended to the input of every layer."""

    def __init__(self, features: int, hidden):
        super().__init__()
        sizes = [features, *hidden, features]
        self.layers = nn.ModuleList(nn.Linear(a + 1, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.act = nn.Softplus()
        nn.init.zeros_(self.layers[-1].weight)
        nn.init.zeros_(self.layers[-1].bias)

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        tt = t.expand(z.shape[0], 1)
        h = z
        for i, layer in enumerate(self.layers):
            h = layer(torch.cat([h, tt], 1))
            if i < len(self.layers) - 1:
                h = self.act(h)
        return h


class CNF(Transform):
    """x -> z by integrating the ODE over [0, T]; log-det = ∫ tr(∂f/∂z) dt."""

    def __init__(self, features: int, config: FFJORDConfig):
        super().__init__()
        self.net = TimeMLP(features, config.hidden)
        self.config = config
        self.features = features

    @property
    def exact_trace(self) -> bool:
        return self.features <= self.config.exact_trace_max_dim

    def _dynamics(self, noise: Tensor | None):
        create_graph = torch.is_grad_enabled()
        d = self.features

        def f(t: Tensor, state: Tensor) -> Tensor:
            with torch.enable_grad():
                z = state[:, :d]
                if not z.requires_grad:
                    z = z.requires_grad_(True)
                dz = self.net(t, z)
                if noise is None:  # exact: Σ_i ∂f_i/∂z_i, one vector-Jacobian product per dimension
                    trace = sum(torch.autograd.grad(dz[:, i].sum(), z, create_graph=True)[0][:, i] for i in range(d))
                else:              # Hutchinson: εᵀ (∂f/∂z) ε
                    vjp = torch.autograd.grad((dz * noise).sum(), z, create_graph=True)[0]
                    trace = (vjp * noise).sum(1)
            if not create_graph:
                dz, trace = dz.detach(), trace.detach()
            return torch.cat([dz, trace[:, None]], 1)

        return f

    def _noise(self, z: Tensor) -> Tensor | None:
        if self.exact_trace:
            return None
        # training: torch's global RNG (seeded by the Trainer); eval: a fixed draw, so log_prob is deterministic
        gen = None if self.training else torch.Generator(device=z.device).manual_seed(0)
        return torch.randint(0, 2, z.shape, generator=gen, device=z.device).to(z.dtype) * 2 - 1

    def _solve(self, x: Tensor, t0: float, t1: float) -> tuple[Tensor, Tensor]:
        c = self.config
        state = torch.cat([x, x.new_zeros(len(x), 1)], 1)
        if self.training:
            out = odeint(self._dynamics(self._noise(x)), state, t0, t1, method=c.train_solver, steps=c.train_steps,
                         **({"rtol": c.rtol, "atol": c.atol} if c.train_solver == "dopri5" else {}))
        else:
            kw = {"rtol": c.rtol, "atol": c.atol} if c.solver == "dopri5" else {"steps": c.train_steps}
            out = odeint(self._dynamics(self._noise(x)), state, t0, t1, method=c.solver, **kw)
        # d(log-det)/dt = tr(J): integrating forwards in time accumulates +∫ tr, backwards -∫ tr
        return out[:, : self.features], out[:, -1]

    def forward(self, x: Tensor, context=None):
        return self._solve(x, 0.0, self.config.time_length)

    def inverse(self, z: Tensor, context=None):
        return self._solve(z, self.config.time_length, 0.0)


@register_model("ffjord")
class FFJORD(FlowModel):
    config_class = FFJORDConfig
    data_kinds = ("2d", "tabular")  # images work (Hutchinson trace) but are slow on a CPU
    default_budget = {"steps": 1000, "batch_size": 256, "lr": 1e-3}

    def __init__(self, config: FFJORDConfig):
        for name, value in (("train_solver", config.train_solver), ("solver", config.solver)):
            if value not in ("rk4", "dopri5"):
                raise ConfigError(f"{name}={value!r} is not known; use 'rk4' or 'dopri5'")
        super().__init__(config)
        if math.prod(config.shape) > config.exact_trace_max_dim:
            self.log_prob_kind = "estimate"  # Hutchinson trace: unbiased, not exact

    @classmethod
    def contract_fixture(cls):
        cfg = FFJORDConfig(shape=(2,), hidden=(8,), train_steps=1, solver="rk4")
        return cfg, torch.randn(16, 2, generator=torch.Generator().manual_seed(0))

    def build_transform(self, shape):
        layers = [ActNorm(shape[0])] if self.config.normalize else []
        return Compose(*layers, CNF(shape[0], self.config))
