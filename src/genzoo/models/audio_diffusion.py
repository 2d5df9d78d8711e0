"""Waveform diffusion in the manner of DiffWave (Kong et al. 2021, "DiffWave: A Versatile Diffusion
Model for Audio Synthesis"), registered as ``audio-diffusion``.

The diffusion is genzoo's DDPM (``models/diffusion.py``: q(x_t | x_0) = N(a_t x_0, s_t² I), the
simple ε-loss, classifier-free guidance, the stateless samplers DDPM / DDIM / DPM-Solver++ /
Euler / Heun); only the network changes. DiffWave's network on a mono clip x (N, 1, L):

    h = ReLU(conv1x1(x))
    per layer i (dilation 2^(i mod cycle)):
        u = h + W_t e(t)                                   e(t): sinusoidal step embedding -> MLP
        z = conv3_dilated(u) + W_c c                         c = E_p[pitch] + E_t[timbre] (global)
        g = tanh(z_a) ⊙ σ(z_b);  (r, s) = conv1x1(g)
        h = (h + r) / √2;  skip += s
    out = conv1x1(ReLU(conv1x1(ReLU(skip / √layers))))     (last conv zero-initialised)

The convolutions are non-causal (the denoiser sees the whole noisy clip), so the receptive field
is 1 + 2 · Σ_i 2^(i mod cycle) samples. Labels condition like WaveNet's (``nn.note_embedding``),
with an extra null label for guidance. The likelihood is not offered (``log_prob_kind = "none"``):
score the model with the sample metrics (``pitch_accuracy``, ``fad``, ``lsd``; docs/audio.md).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError, DataError, NotSupported
from ..model import GenerativeModel, ModelConfig
from ..nn.embeddings import TimestepEmbedding, broadcast_timesteps
from ..nn.note_embedding import NoteEmbedding
from ..registry import register_model
from ..samplers.denoise import canonical_sampler
from ..samplers.noise_schedule import NoiseSchedule, canonical_prediction
from .diffusion import DDPM


@dataclasses.dataclass
class AudioDiffusionConfig(ModelConfig):
    shape: tuple[int, ...] = (1, 2000)
    sample_rate: int = 8000
    num_classes: int | None = None
    n_timbres: int = 1
    null_class: bool = True
    label_dropout: float = 0.1
    # forward process (DiffWave: T = 200, linear betas 1e-4 .. 0.02 for unconditional audio)
    num_train_timesteps: int = 200
    beta_schedule: str = "linear"
    beta_start: float = 1e-4
    beta_end: float = 0.02
    prediction: str = "epsilon"
    min_snr_gamma: float = 0.0
    # sampling
    sampler: str = "ddim"
    sample_steps: int = 50
    timestep_spacing: str | None = None
    steps_offset: int = 0
    eta: float = 0.0
    use_karras_sigmas: bool | None = None
    clip_sample: bool | None = True
    guidance_scale: float = 1.0
    # network
    residual_channels: int = 32
    layers: int = 10
    dilation_cycle: int = 5   # dilations 1 .. 16, twice: a receptive field of 125 samples


class DiffWaveLayer(nn.Module):
    def __init__(self, channels: int, dilation: int, emb_dim: int, cond: bool):
        super().__init__()
        self.step = nn.Linear(emb_dim, channels)
        self.conv = nn.Conv1d(channels, 2 * channels, 3, padding=dilation, dilation=dilation)
        self.cond = nn.Linear(channels, 2 * channels) if cond else None
        self.out = nn.Conv1d(channels, 2 * channels, 1)

    def forward(self, h: Tensor, emb: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        z = self.conv(h + self.step(emb).unsqueeze(-1))
        if c is not None:
            z = z + self.cond(c).unsqueeze(-1)
        a, b = z.chunk(2, dim=1)
        r, s = self.out(torch.tanh(a) * torch.sigmoid(b)).chunk(2, dim=1)
        return (h + r) / math.sqrt(2.0), s


class DiffWaveNet(nn.Module):
    """``forward(x (N, 1, L), t, labels (N,) | None) -> (N, 1, L)``."""

    def __init__(self, channels: int, layers: int, cycle: int, num_classes: int | None, n_timbres: int, null: bool):
        super().__init__()
        emb_dim = 4 * channels
        self.inp = nn.Conv1d(1, channels, 1)
        self.time = TimestepEmbedding(channels, emb_dim)
        self.condition = NoteEmbedding(num_classes, n_timbres, channels, null=null) if num_classes else None
        self.layers = nn.ModuleList(DiffWaveLayer(channels, 2 ** (i % cycle), emb_dim, self.condition is not None)
                                    for i in range(layers))
        self.skip_out = nn.Conv1d(channels, channels, 1)
        self.out = nn.Conv1d(channels, 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor, t, labels: Tensor | None = None) -> Tensor:
        emb = F.silu(self.time(broadcast_timesteps(t, x.shape[0], x.device)))
        c = self.condition(labels) if self.condition is not None and labels is not None else None
        h, skip = F.relu(self.inp(x)), 0
        for layer in self.layers:
            h, s = layer(h, emb, c)
            skip = skip + s
        return self.out(F.relu(self.skip_out(F.relu(skip / math.sqrt(len(self.layers))))))


@register_model("audio-diffusion")
class AudioDiffusion(DDPM):
    config_class = AudioDiffusionConfig
    data_kinds = ("audio",)
    log_prob_kind = "none"
    default_budget = {"steps": 2000, "batch_size": 8, "lr": 1e-3}
    kind_defaults = {"audio": {"budget": {"steps": 2000, "batch_size": 8, "lr": 1e-3}}}

    def __init__(self, config: AudioDiffusionConfig):
        GenerativeModel.__init__(self, config)  # DDPM's own __init__ builds a U-Net or an MLP
        c = config
        if len(c.shape) != 2 or c.shape[0] != 1:
            raise ConfigError(f"audio-diffusion models mono clips (1, L), not shape {tuple(c.shape)}")
        self.prediction = canonical_prediction(c.prediction)
        canonical_sampler(c.sampler)
        self.schedule = NoiseSchedule.create(c.beta_schedule, c.num_train_timesteps, c.beta_start, c.beta_end)
        self.net = DiffWaveNet(c.residual_channels, c.layers, c.dilation_cycle, c.num_classes, c.n_timbres, c.null_class)

    @property
    def receptive_field(self) -> int:
        return 1 + 2 * sum(layer.conv.dilation[0] for layer in self.net.layers)

    @classmethod
    def config_for_data(cls, data, **overrides: Any) -> AudioDiffusionConfig:
        base: dict[str, Any] = {}
        if data is not None:
            if data.kind != "audio" or len(data.shape) != 2 or data.shape[0] != 1:
                raise DataError(f"audio-diffusion models mono audio (1, L); dataset {data.name!r} has kind {data.kind!r} and shape {data.shape}")
            base = {"shape": tuple(data.shape), "sample_rate": data.info.get("sample_rate", 8000)}
            if data.y is not None and data.num_classes:
                base.update(num_classes=data.num_classes, n_timbres=data.info.get("n_timbres", 1))
        return AudioDiffusionConfig.from_dict({**base, **overrides})

    @classmethod
    def contract_fixture(cls):
        config = AudioDiffusionConfig(shape=(1, 32), residual_channels=8, layers=3, dilation_cycle=2,
                                      num_train_timesteps=50, sample_steps=4)
        return config, torch.sin(torch.linspace(0, 12, 32)).expand(16, 1, 32) * torch.rand(16, 1, 1)

    def check_input(self, x: Tensor) -> None:
        if tuple(x.shape[1:]) != tuple(self.config.shape):
            raise DataError(f"audio-diffusion was built for clips of shape {tuple(self.config.shape)}, got {tuple(x.shape[1:])}; "
                            "rebuild the model for this data")

    def log_prob(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        raise NotSupported("audio-diffusion offers no likelihood; score it with pitch_accuracy, fad or lsd (docs/audio.md)")

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, y=None, class_labels=None, **kw) -> Tensor:
        """``n`` clips (n, 1, L) in [-1, 1]; labels ``y`` (or ``class_labels``) default to 0, 1, 2, ... mod K."""
        labels = y if y is not None else class_labels
        return super().sample(n, generator=generator, class_labels=labels, **kw).clamp(-1, 1)
