"""WaveNet: an exact autoregressive model of raw audio (van den Oord et al. 2016, "WaveNet: A
Generative Model for Raw Audio"), with Fast WaveNet cached generation (Paine et al. 2016).

Audio x in [-1, 1] is μ-law companded and quantised to Q = 256 codes (μ = Q - 1):

    F(x) = sign(x) ln(1 + μ|x|) / ln(1 + μ),   code = ⌊(F(x) + 1)/2 · μ + ½⌋
    p(codes | c) = Π_t softmax(f(code_<t, c))[code_t]

f is a stack of gated, dilated, causal convolutions (kernel 2, dilations 1, 2, ..., 2^(k-1)
repeated ``stacks`` times) with residual and skip connections and global conditioning c:

    z = tanh(W_f * h + V_f c) ⊙ σ(W_g * h + V_g c),   h ← h + W_r z,   s ← s + W_s z
    logits = W_2 ReLU(W_1 ReLU(s))

The input at step t is the embedding of code_{t-1} (code 128, silence, before the first sample),
so the receptive field is 1 + stacks · (2^k - 1) samples. c = E_p[pitch] + E_t[timbre]
(``nn.note_embedding``) for labelled notes. ``log_prob`` is the exact log-mass (nats) of the μ-law
codes of x (``discrete_log_prob``), so ``genzoo eval --metrics nll`` reports bits per sample as
``bpd`` (= nll / (L ln 2)).

Sampling draws one code at a time. ``cache=True`` (Fast WaveNet) keeps, for each layer of dilation
d, a ring buffer of its last d inputs, so a step costs O(layers) 1x1 products; ``cache=False``
recomputes the stack on the last receptive field of codes for every sample. Both draw with the
same inverse-CDF rule from the same generator, so they give the same codes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError, DataError
from ..model import GenerativeModel, ModelConfig
from ..nn.note_embedding import NoteEmbedding, labels_for
from ..registry import register_model
from ..utils import model_device, unpack_batch
from .pixelcnn import sample_categorical


def mu_law_encode(x: Tensor, q: int = 256) -> Tensor:
    """[-1, 1] -> codes {0..q-1}: ⌊(F(x) + 1)/2 · μ + ½⌋ with μ = q - 1."""
    mu = q - 1
    x = x.clamp(-1, 1)
    f = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
    return ((f + 1) / 2 * mu + 0.5).floor().long().clamp(0, mu)


def mu_law_decode(codes: Tensor, q: int = 256) -> Tensor:
    """Codes -> [-1, 1]: x = sign(f) ((1 + μ)^|f| - 1) / μ with f = 2 code / μ - 1."""
    mu = q - 1
    f = 2 * codes.float() / mu - 1
    return torch.sign(f) * ((1 + mu) ** f.abs() - 1) / mu


@dataclass
class WaveNetConfig(ModelConfig):
    length: int = 2000              # samples per clip
    sample_rate: int = 8000         # recorded so `genzoo sample --out x.wav` writes the right rate
    quantization: int = 256         # μ-law codes Q (μ = Q - 1)
    residual_channels: int = 32
    dilation_depth: int = 8         # dilations 1 .. 2^(depth-1) per stack
    stacks: int = 2
    skip_channels: int = 64
    num_classes: int | None = None  # global conditioning on the label when set
    n_timbres: int = 1              # labels are pitch · n_timbres + timbre (notes: 4)


class GatedLayer(nn.Module):
    """One residual layer: dilated causal conv (kernel 2) -> gate -> residual and skip 1x1 convs."""

    def __init__(self, channels: int, skip: int, dilation: int, cond: bool):
        super().__init__()
        self.dilation = dilation
        self.conv = nn.Conv1d(channels, 2 * channels, 2, dilation=dilation)
        self.cond = nn.Linear(channels, 2 * channels, bias=False) if cond else None
        self.res = nn.Conv1d(channels, channels, 1)
        self.skip = nn.Conv1d(channels, skip, 1)

    def gate(self, z: Tensor, c: Tensor | None) -> Tensor:
        if c is not None:
            z = z + self.cond(c).unsqueeze(-1)
        a, b = z.chunk(2, dim=1)
        return torch.tanh(a) * torch.sigmoid(b)

    def forward(self, h: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        g = self.gate(self.conv(F.pad(h, (self.dilation, 0))), c)
        return h + self.res(g), self.skip(g)

    def step(self, h: Tensor, past: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        """One time step: ``h`` (N, C) now, ``past`` (N, C) the input ``dilation`` steps ago."""
        w = self.conv.weight  # (2C, C, 2): tap 0 looks back ``dilation`` steps, tap 1 is now
        z = (past @ w[:, :, 0].T + h @ w[:, :, 1].T + self.conv.bias).unsqueeze(-1)
        g = self.gate(z, c).squeeze(-1)
        return h + g @ self.res.weight[:, :, 0].T + self.res.bias, g @ self.skip.weight[:, :, 0].T + self.skip.bias


@register_model("wavenet")
class WaveNet(GenerativeModel):
    config_class = WaveNetConfig
    data_kinds = ("audio",)
    log_prob_kind = "exact"
    discrete_log_prob = True
    default_budget = {"steps": 6000, "batch_size": 8, "lr": 2e-3}
    #: 6,000 steps (22 min on one core of the 2-core EPYC, 8 x 2,000-sample notes) reach 92 % pitch accuracy on
    #: notes (benchmarks/results/audio_notes.md); 2,000 steps gave 82 %
    kind_defaults = {"audio": {"budget": {"steps": 6000, "batch_size": 8, "lr": 2e-3},
                               "config": {"dilation_depth": 8, "stacks": 1, "skip_channels": 32}}}

    def __init__(self, config: WaveNetConfig):
        super().__init__(config)
        c = config
        if c.quantization < 2 or c.length < 1 or c.dilation_depth < 1 or c.stacks < 1:
            raise ConfigError("wavenet needs quantization >= 2, length >= 1, dilation_depth >= 1 and stacks >= 1")
        ch = c.residual_channels
        self.embed_input = nn.Embedding(c.quantization, ch)
        self.condition = NoteEmbedding(c.num_classes, c.n_timbres, ch) if c.num_classes else None
        self.layers = nn.ModuleList(GatedLayer(ch, c.skip_channels, 2 ** i, self.condition is not None)
                                    for _ in range(c.stacks) for i in range(c.dilation_depth))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv1d(c.skip_channels, c.skip_channels, 1), nn.ReLU(),
                                  nn.Conv1d(c.skip_channels, c.quantization, 1))

    @property
    def receptive_field(self) -> int:
        """Samples the logits at step t depend on: code_{t-R} .. code_{t-1}."""
        return 1 + sum(layer.dilation for layer in self.layers)

    @classmethod
    def config_for_data(cls, data, **overrides) -> WaveNetConfig:
        base = {}
        if data is not None:
            if data.kind != "audio" or len(data.shape) != 2 or data.shape[0] != 1:
                raise DataError(f"wavenet models mono audio (1, L); dataset {data.name!r} has kind {data.kind!r} and shape {data.shape}")
            base = {"length": data.shape[1], "sample_rate": data.info.get("sample_rate", 8000)}
            if data.y is not None and data.num_classes:
                base.update(num_classes=data.num_classes, n_timbres=data.info.get("n_timbres", 1))
        return WaveNetConfig.from_dict({**base, **overrides})

    @classmethod
    def contract_fixture(cls):
        g = torch.Generator().manual_seed(0)
        x = mu_law_decode(torch.randint(100, 156, (8, 1, 16), generator=g))
        return WaveNetConfig(length=16, residual_channels=8, dilation_depth=3, stacks=1, skip_channels=8), x

    # --- network -----------------------------------------------------------------------
    def _cond(self, y: Tensor | None, n: int, device) -> Tensor | None:
        if self.condition is None:
            return None
        if y is None:
            raise DataError("this wavenet is conditional (num_classes is set); pass labels y")
        return self.condition(y.to(device).reshape(-1).expand(n))

    def forward(self, codes: Tensor, c: Tensor | None) -> Tensor:
        """Logits (N, Q, L) of code_t given code_<t for (N, L) codes (teacher forcing)."""
        start = torch.full_like(codes[:, :1], self.config.quantization // 2)
        h = self.embed_input(torch.cat([start, codes[:, :-1]], 1)).transpose(1, 2)
        skip = 0
        for layer in self.layers:
            h, s = layer(h, c)
            skip = skip + s
        return self.head(skip)

    def _codes(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or tuple(x.shape[1:]) != (1, self.config.length):
            raise DataError(f"wavenet expects mono clips of shape (1, {self.config.length}), got {tuple(x.shape[1:])}; "
                            "rebuild the model for this data")
        return mu_law_encode(x[:, 0], self.config.quantization)

    def _log_prob_given(self, codes: Tensor, y: Tensor | None) -> Tensor:
        logp = self(codes, self._cond(y, len(codes), codes.device)).log_softmax(1)
        return logp.gather(1, codes.unsqueeze(1)).squeeze(1).sum(1)

    # --- contract ----------------------------------------------------------------------
    def log_prob(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Exact log-mass (nats) of the μ-law codes of x; a conditional model without ``y`` returns the
        marginal log Σ_y p(x | y) p(y) under a uniform p(y)."""
        codes = self._codes(x)
        if self.condition is None or y is not None:
            return self._log_prob_given(codes, y)
        k = self.config.num_classes
        per_class = [self._log_prob_given(codes, torch.full((len(x),), c)) for c in range(k)]
        return torch.logsumexp(torch.stack(per_class, 1), 1) - math.log(k)

    def loss(self, batch) -> dict[str, Tensor]:
        x, y = unpack_batch(batch)
        codes = self._codes(x)
        nll = F.cross_entropy(self(codes, self._cond(y, len(codes), codes.device)), codes)
        return {"loss": nll, "bits_per_sample": nll.detach() / math.log(2)}

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, y=None, class_labels=None,
               cache: bool = True, temperature: float = 1.0, length: int | None = None, **kw) -> Tensor:
        """``n`` clips (n, 1, L) in [-1, 1]; labels ``y`` (or ``class_labels``) default to 0, 1, 2, ... mod K."""
        if temperature <= 0:
            raise ConfigError(f"temperature must be positive, got {temperature}")
        device = model_device(self)
        labels = labels_for(n, y if y is not None else class_labels, self.config.num_classes, device)
        c = self.condition(labels) if labels is not None else None
        steps = length or self.config.length
        codes = self._generate_cached(n, steps, c, generator, temperature) if cache else \
            self._generate_naive(n, steps, c, generator, temperature)
        return mu_law_decode(codes, self.config.quantization).unsqueeze(1)

    def _draw(self, logits: Tensor, generator, temperature: float) -> Tensor:
        return sample_categorical(logits / temperature, generator)

    def _generate_naive(self, n: int, steps: int, c, generator, temperature: float) -> Tensor:
        """Recompute the whole stack on the last receptive field for every new sample."""
        device = model_device(self)
        codes = torch.empty(n, 0, dtype=torch.long, device=device)
        window = self.receptive_field  # the codes the next logits depend on
        for _ in range(steps):
            context = codes[:, -window:]
            pad = torch.zeros(n, 1, dtype=torch.long, device=device)  # the position being predicted
            logits = self(torch.cat([context, pad], 1), c)[:, :, -1]
            codes = torch.cat([codes, self._draw(logits, generator, temperature)[:, None]], 1)
        return codes

    def _generate_cached(self, n: int, steps: int, c, generator, temperature: float) -> Tensor:
        """Fast WaveNet: per layer a ring buffer of its last ``dilation`` inputs (zeros = causal padding)."""
        device = model_device(self)
        ch = self.config.residual_channels
        dtype = self.embed_input.weight.dtype
        buffers = [torch.zeros(n, layer.dilation, ch, device=device, dtype=dtype) for layer in self.layers]
        codes = torch.empty(n, steps, dtype=torch.long, device=device)
        prev = torch.full((n,), self.config.quantization // 2, dtype=torch.long, device=device)
        for t in range(steps):
            h, skip = self.embed_input(prev), 0
            for layer, buf in zip(self.layers, buffers):
                slot = t % layer.dilation
                past = buf[:, slot].clone()
                buf[:, slot] = h
                h, s = layer.step(h, past, c)
                skip = skip + s
            logits = self.head(skip.unsqueeze(-1))[:, :, 0]
            prev = codes[:, t] = self._draw(logits, generator, temperature)
        return codes
