"""DP-SGD (Abadi et al. 2016) for every single-loss family and the GAN's discriminator (``gan.py``).

One step with sampling rate q = B/N, clip norm C and noise multiplier σ:

    S_t  ~ Poisson(q): every example joins independently with probability q   (variable batch size)
    g_i  = ∇_θ ℓ(θ; x_i)                        per example, i ∈ S_t  (torch.func: vmap of grad)
    ḡ_i  = g_i · min(1, C / ||g_i||)             ||·|| over all trainable parameters together
    g̃    = (Σ_i ḡ_i + N(0, σ² C² I)) / (qN)      Opacus' normalisation by the expected batch size
    θ    ← optimizer step with g̃                 (no global clipping on top)

σ is either given or calibrated by Opacus (``accountant.calibrate``) so the run's T steps spend the
target ε at δ; the accountant (RDP or PRV, Opacus' code) records (σ, q, T). Per-example clipping is
``per_example.py`` (vmap of the loss on a batch of one, or a loop) or ``ghost.py`` (linear, embedding and normalisation layers).
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .accountant import ACCOUNTANTS, calibrate, epsilon
from .per_example import PerExampleGrads, clipped_sum, make_engine  # noqa: F401 - re-exported for tests and benchmarks

PRIVACY_JSON = "privacy.json"


@dataclass(frozen=True)
class PrivacyConfig:
    """DP-SGD settings: ``target_epsilon`` (σ calibrated by Opacus) or ``noise_multiplier`` (σ given)."""

    target_epsilon: float | None = None
    delta: float = 1e-5
    max_grad_norm: float = 1.0
    noise_multiplier: float | None = None
    accountant: str = "rdp"

    def __post_init__(self):
        if (self.target_epsilon is None) == (self.noise_multiplier is None):
            raise ConfigError("DP-SGD needs exactly one of target_epsilon (--dp-epsilon) and noise_multiplier "
                              "(--dp-noise-multiplier)")
        if self.target_epsilon is not None and not (self.target_epsilon > 0 and math.isfinite(self.target_epsilon)):
            raise ConfigError(f"--dp-epsilon must be a positive number, got {self.target_epsilon}")
        if self.noise_multiplier is not None and not (self.noise_multiplier >= 0 and math.isfinite(self.noise_multiplier)):
            raise ConfigError(f"--dp-noise-multiplier must be >= 0, got {self.noise_multiplier}")
        if not 0 < self.delta < 1:
            raise ConfigError(f"--dp-delta must be in (0, 1), got {self.delta}")
        if not (self.max_grad_norm > 0 and math.isfinite(self.max_grad_norm)):
            raise ConfigError(f"--dp-max-grad-norm must be positive, got {self.max_grad_norm}")
        if self.accountant not in ACCOUNTANTS:
            raise ConfigError(f"unknown accountant {self.accountant!r}; use one of: {', '.join(ACCOUNTANTS)}")

    def to_dict(self) -> dict:
        return asdict(self)


def check_layers(model: nn.Module) -> None:
    """Refuse layers whose output for one example depends on the others (BatchNorm, InstanceNorm with
    running statistics), naming the first, with Opacus' ``ModuleValidator`` rules. Its RNN/attention
    rules are about Opacus' hooks, which genzoo does not use (vmap differentiates those layers as they are)."""
    from opacus.validators import ModuleValidator

    for name, module in model.named_modules():
        rule = ModuleValidator.VALIDATORS.get(type(module))
        errors = rule(module) if rule is not None and "norm" in type(module).__name__.lower() else []
        if errors:
            why = str(errors[0]).split(".")[0].strip()
            raise ConfigError(f"DP-SGD cannot train layer {name or 'model'} ({type(module).__name__}): {why}; "
                              "replace it with GroupNorm or LayerNorm")


def skip_data_init(model: nn.Module) -> list[str]:
    """Mark data-initialised layers (ActNorm: mean/std of the first batch; the Gaussian mixture: k-means of it;
    neither noised) as initialised,
    so they start at their identity init: a data-dependent init would read private data outside DP-SGD."""
    skipped = []
    for name, module in model.named_modules():
        flag = getattr(module, "initialized", None)
        if isinstance(flag, Tensor) and flag.dtype == torch.bool:  # the families' "init from the first batch" flag
            if not bool(flag):
                flag.fill_(True)
                skipped.append(name)
    return skipped


def poisson_indices(n: int, rate: float, generator: torch.Generator) -> Tensor:
    """Poisson sampling: the indices i < n with U_i < rate, U_i drawn from ``generator`` (the run's data RNG)."""
    return torch.nonzero(torch.rand(n, generator=generator) < rate).flatten()


def private_gradients(grads, batch, max_norm: float, sigma: float, expected_batch: float) -> dict:
    """Set ``p.grad = (Σ_i clip_C(g_i) + N(0, σ²C²)) / (qN)`` for the trainable parameters; returns the logs
    (mean loss, mean per-example norm, the share clipped, the drawn batch size). ``batch`` None: noise only."""
    logs = {"batch_size": 0.0}
    if batch is not None:
        losses, extra, sums, norms = grads.clipped(batch, max_norm)
        logs = {"loss": float(losses.float().mean()), **{k: float(v.float().mean()) for k, v in extra.items()},
                "grad_norm": float(norms.mean()), "clipped": float((norms > max_norm).float().mean()),
                "batch_size": float(len(norms))}
    else:
        sums = [torch.zeros_like(p) for p in grads.params]
    std = sigma * max_norm
    for p, s in zip(grads.params, sums):
        p.grad = (s + std * torch.randn(p.shape, device=s.device, dtype=s.dtype)) / expected_batch
    return logs


class PrivateTraining:
    """The DP side of one Trainer run: batches, the noisy step, the accountant, ``privacy.json``."""

    def __init__(self, config: PrivacyConfig, trainer):
        if not isinstance(config, PrivacyConfig):
            raise ConfigError(f"privacy= takes a genzoo.privacy.PrivacyConfig, got {type(config).__name__}")
        model = trainer.model
        self.gan = model.model_type == "gan"
        if self.gan:  # DP on the discriminator, the only player that reads data (gan.py)
            from .gan import check_gan

            check_gan(model)
        elif getattr(model, "manual_optimization", False):
            raise ConfigError(f"DP-SGD is not supported for {model.model_type} (its training step samples from a "
                              "replay buffer built from data outside the gradient); train a single-loss family or a GAN")
        if trainer.world.distributed or trainer.fsdp:
            raise ConfigError("DP-SGD runs in one process: drop --nproc/torchrun and --fsdp (per-example clipping "
                              "and one noise draw per step are not split over ranks in genzoo)")
        if model.model_type == "vqvae" and getattr(model.config, "ema", False):
            raise ConfigError("DP-SGD cannot train a vqvae with ema=true: its EMA codebook updates read the data "
                              "outside the gradient; train with --set ema=false")
        check_layers(model)
        skip_data_init(model)
        self.config, self.n = config, len(trainer.data)
        self.sample_rate = min(1.0, trainer.batch_size / self.n)
        self.expected_batch = self.sample_rate * self.n
        if config.delta >= 1.0 / self.n:
            warnings.warn(f"genzoo: --dp-delta {config.delta:g} >= 1/N = {1 / self.n:.3g} (N = {self.n} examples) "
                          f"protects little; use --dp-delta {10 ** math.floor(math.log10(0.1 / self.n)):g} or less",
                          stacklevel=3)
        self.noise_multiplier = (float(config.noise_multiplier) if config.noise_multiplier is not None else
                                 calibrate(config.target_epsilon, config.delta, self.sample_rate, trainer.steps,
                                           config.accountant))
        self.history: list[list] = []  # [[σ, q, steps], ...]: Opacus' accountant history
        self.grads = None  # the per-example engine (make_engine), chosen at the first step
        self._engine: str | None = None  # the engine a resumed run chose before

    # --- the step -------------------------------------------------------------------------
    def indices(self, generator: torch.Generator) -> Tensor:
        return poisson_indices(self.n, self.sample_rate, generator)

    def step(self, trainer, batch) -> dict[str, float]:
        """Noisy clipped gradients into ``p.grad``, then the optimizers step (``batch`` None: empty draw)."""
        if self.gan:
            from .gan import gan_step

            with trainer._autocast():
                logs = gan_step(self, trainer, batch)
            self._record()
            return logs
        with trainer._autocast():
            if self.grads is None:
                self.grads = make_engine(trainer.model, trainer._loss_fn, batch, self.config.max_grad_norm,
                                         self._engine)
            logs = private_gradients(self.grads, batch, self.config.max_grad_norm, self.noise_multiplier,
                                     self.expected_batch)
        if "loss" in logs:
            trainer._check_finite(logs, ("loss", "grad_norm"))
        for opt in trainer.optimizers:
            opt.step()
        self._record()
        return logs

    def _record(self) -> None:
        sigma, q = self.noise_multiplier, self.sample_rate
        if self.history and self.history[-1][:2] == [sigma, q]:
            self.history[-1][2] += 1
        else:
            self.history.append([sigma, q, 1])

    # --- accounting, checkpoints, report ----------------------------------------------------
    def epsilon(self) -> float:
        """ε spent so far at the run's δ (Opacus' accountant over the recorded history)."""
        return epsilon(self.config.accountant, self.history, self.config.delta)

    def state(self) -> dict:
        return {"config": self.config.to_dict(), "noise_multiplier": self.noise_multiplier,
                "sample_rate": self.sample_rate, "history": self.history, "engine": self.engine()}

    def load_state(self, state: dict) -> None:
        self.noise_multiplier = float(state["noise_multiplier"])
        self.history = [[float(s), float(q), int(n)] for s, q, n in state["history"]]
        self._engine = state.get("engine")

    def report(self) -> dict:
        eps = self.epsilon()
        return {"epsilon": eps if math.isfinite(eps) else None, "delta": self.config.delta,
                "noise_multiplier": self.noise_multiplier, "sample_rate": self.sample_rate,
                "steps": sum(n for _, _, n in self.history), "max_grad_norm": self.config.max_grad_norm,
                "accountant": self.config.accountant, "target_epsilon": self.config.target_epsilon,
                "engine": self.engine()}

    def engine(self) -> str | None:
        """``ghost``, ``vmap`` or ``loop``: how per-example gradients are clipped (None before the first step)."""
        return self.grads.name if self.grads is not None else self._engine

    def write(self, out: Path) -> dict:
        """``OUT/privacy.json`` (written whole, then renamed)."""
        report = self.report()
        tmp = out / f".{PRIVACY_JSON}.tmp"
        tmp.write_text(json.dumps(report, indent=2) + "\n")
        tmp.replace(out / PRIVACY_JSON)
        return report


def check_resume(saved: dict, now: dict, source) -> None:
    """A DP run resumes only as a DP run (and a plain run only as a plain run)."""
    if bool(saved.get("privacy")) != bool(now.get("privacy")):
        raise ConfigError(f"{source}: the run was trained {'with' if saved.get('privacy') else 'without'} DP-SGD; resume it "
                          f"{'with the same --dp-* flags' if saved.get('privacy') else 'without --dp-* flags'}")
