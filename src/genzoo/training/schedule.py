"""Learning-rate schedules: linear warmup, then cosine decay (or a constant rate).

With peak rate ``lr``, warmup ``W`` steps and ``T`` total steps, the multiplier of ``lr`` at
optimiser step ``t`` (0-based, the step about to be taken) is

    f(t) = (t + 1) / W                                             if t < W
    f(t) = m + (1 - m) * (1 + cos(pi * (t - W) / max(1, T - W))) / 2   (cosine, m = 0.1)
    f(t) = 1                                                        (constant)

so the rate rises linearly to ``lr`` and decays to ``0.1 * lr`` at the last step
(Loshchilov & Hutter, "SGDR", 2017; the nanoGPT recipe).
"""
from __future__ import annotations

import math

from ..errors import ConfigError

SCHEDULES = ("cosine", "constant")


def default_warmup(steps: int) -> int:
    """``min(100, steps // 20)`` warmup steps."""
    return min(100, steps // 20)


def lr_multiplier(step: int, *, steps: int, warmup: int, schedule: str = "cosine",
                  min_ratio: float = 0.1) -> float:
    """The factor ``f(step)`` applied to the peak learning rate (see module docstring)."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        progress = min(1.0, (step - warmup) / max(1, steps - warmup))
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ConfigError(f"unknown schedule {schedule!r}; use one of: {', '.join(SCHEDULES)}")


class LRLambda:
    """Callable for ``torch.optim.lr_scheduler.LambdaLR``: ``f(step)``."""

    def __init__(self, *, steps: int, warmup: int, schedule: str):
        if schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {schedule!r}; use one of: {', '.join(SCHEDULES)}")
        self.steps, self.warmup, self.schedule = steps, warmup, schedule

    def __call__(self, step: int) -> float:
        return lr_multiplier(step, steps=self.steps, warmup=self.warmup, schedule=self.schedule)
