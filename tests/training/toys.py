"""Tiny models for the Trainer tests (not registered globally, so the contract suite ignores them)."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from genzoo.model import GenerativeModel, ModelConfig
from genzoo.registry import MODELS
from genzoo.utils import randn, unpack_batch


@dataclass
class ToyConfig(ModelConfig):
    dim: int = 2
    hidden: int = 8
    dropout: float = 0.1


class ToyFlow(GenerativeModel):
    """x = mu + A z with a small noisy MLP term, so the loss uses the global RNG (dropout, noise)."""

    config_class = ToyConfig
    model_type = "_toy_flow"
    data_kinds = ("2d",)

    def __init__(self, config: ToyConfig):
        super().__init__(config)
        d, h = config.dim, config.hidden
        self.net = nn.Sequential(nn.Linear(d, h), nn.Tanh(), nn.Dropout(config.dropout), nn.Linear(h, d))
        self.mu = nn.Parameter(torch.zeros(d))
        self.register_buffer("seen", torch.zeros(()))  # a float buffer: the EMA tracks it too

    def loss(self, batch):
        x, _ = unpack_batch(batch)
        noisy = x + 0.05 * torch.randn_like(x)
        recon = self.mu + self.net(noisy)
        self.seen += len(x)
        return {"loss": ((recon - x) ** 2).mean() + 0.01 * (self.mu ** 2).sum(), "mse": ((recon - x) ** 2).mean()}

    def sample(self, n, *, generator=None, **kw):
        z = randn((n, self.config.dim), generator=generator, device=self.mu.device)
        return self.mu + z

    def log_prob(self, x):
        return -0.5 * ((x - self.mu) ** 2).sum(-1)


class ToyGAN(GenerativeModel):
    """Two players with two optimizers; the critic keeps a replay buffer of fakes (extra state)."""

    config_class = ToyConfig
    model_type = "_toy_gan"
    data_kinds = ("2d",)
    manual_optimization = True

    def __init__(self, config: ToyConfig):
        super().__init__(config)
        d, h = config.dim, config.hidden
        self.generator = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, d))
        self.critic = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Dropout(config.dropout), nn.Linear(h, 1))
        self.buffer = torch.zeros(16, d)

    def configure_optimizers(self, lr, weight_decay=0.0, betas=(0.5, 0.9)):
        return [torch.optim.Adam(self.generator.parameters(), lr=lr, betas=betas),
                torch.optim.AdamW(self.critic.parameters(), lr=2 * lr, weight_decay=weight_decay, betas=betas)]

    def training_step(self, batch, step, *, optimizers):
        x, _ = unpack_batch(batch)
        opt_g, opt_d = optimizers
        fake = self.generator(torch.randn_like(x))
        idx = torch.randint(0, len(self.buffer), (len(x),))
        old = self.buffer[idx]
        d_loss = (torch.nn.functional.softplus(-self.critic(x)).mean()
                  + torch.nn.functional.softplus(self.critic(torch.cat([fake.detach(), old]))).mean())
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = torch.nn.functional.softplus(-self.critic(fake)).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        self.buffer[step % len(self.buffer)] = fake[0].detach()
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item()}

    def extra_state_tensors(self):
        return {"buffer": self.buffer}

    def load_extra_state_tensors(self, tensors):
        self.buffer = tensors["buffer"].clone()

    def sample(self, n, *, generator=None, **kw):
        return self.generator(randn((n, self.config.dim), generator=generator))


class Exploding(ToyFlow):
    """Its loss becomes NaN from a given step on (counted through calls)."""

    model_type = "_toy_exploding"
    nan_from = 7

    def loss(self, batch):
        out = super().loss(batch)
        if self.seen.item() >= self.nan_from * 16:
            out["loss"] = out["loss"] * float("nan")
        return out


def data(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=g) * 0.5 + torch.tensor([1.0, -2.0])


def build(cls=ToyFlow, seed=0, **kw):
    torch.manual_seed(seed)
    return cls(ToyConfig(**kw))


@contextlib.contextmanager
def registered(*classes):
    """Register toy classes for ``genzoo.load`` inside a test only."""
    for cls in classes:
        MODELS._entries[cls.model_type] = cls
    try:
        yield
    finally:
        for cls in classes:
            MODELS._entries.pop(cls.model_type, None)
