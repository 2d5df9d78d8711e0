"""Learning-rate schedules: linear warmup, then cosine decay (or a constant rate).

With peak rate ``lr``, warmup ``W`` steps and ``T`` total steps, the multiplier of ``lr`` at
optimiser step ``t`` (0-based, the step about to be taken) is

    f(t) = (t + 1) / W                                             if t < W
    f(t) = m + (1 - m) * (1 + cos(pi * (t - W) / max(1, T - W))) / 2   (cosine, m = 0.1)
    f(t) = 1                                                        (constant)

so the rate rises linearly to ``lr`` and decays to ``0.1 * lr`` at the last step
(Loshchilov & Hutter, "SGDR", 2017; the nanoGPT recipe).

Extending a run (``--resume DIR --steps N`` with N above the planned total) appends a segment
``{"from_step": k, "steps": N, "warmup": W}`` to the run's plan. From step ``k`` on the multiplier is

    g(t) = a + (b - a) * (t - k) / R        k <= t < k + R,   R = max(1, W)
    g(t) = f_N(t)                           t >= k + R

with ``a`` the previous plan's value at ``k`` (so the rate is continuous where the run resumes),
``f_N`` the schedule above for ``N`` total steps and ``b = f_N(k + R)``: a linear re-warmup over the
run's warmup length from where the rate was to the N-step plan, then that plan to its end (the
re-warm + re-decay of continued pre-training, Ibrahim et al., 2024). One segment is ``f`` itself.
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


def planned_multiplier(step: int, plan: list[dict], schedule: str = "cosine") -> float:
    """The multiplier at ``step`` under a plan of segments (see the module docstring)."""
    i = max((j for j, seg in enumerate(plan) if seg["from_step"] <= step), default=0)
    seg = plan[i]
    f = lambda t: lr_multiplier(t, steps=seg["steps"], warmup=seg["warmup"], schedule=schedule)  # noqa: E731
    if i == 0:
        return f(step)
    k, ramp = seg["from_step"], max(1, seg["warmup"])
    if step >= k + ramp:
        return f(step)
    a, b = planned_multiplier(k, plan[:i], schedule), f(k + ramp)
    return a + (b - a) * (step - k) / ramp


def extend_plan(plan: list[dict], at_step: int, steps: int, warmup: int) -> list[dict]:
    """``plan`` with a segment that re-plans the run to ``steps`` in total from ``at_step``."""
    kept = [seg for seg in plan if seg["from_step"] < at_step]  # none at step 0: the new plan alone
    return kept + [{"from_step": at_step, "steps": steps, "warmup": warmup}]


class LRLambda:
    """Callable for ``torch.optim.lr_scheduler.LambdaLR``: ``f(step)``, or the plan's multiplier."""

    def __init__(self, *, steps: int, warmup: int, schedule: str, plan: list[dict] | None = None):
        if schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {schedule!r}; use one of: {', '.join(SCHEDULES)}")
        self.steps, self.warmup, self.schedule = steps, warmup, schedule
        self.plan = plan or [{"from_step": 0, "steps": steps, "warmup": warmup}]

    def __call__(self, step: int) -> float:
        if len(self.plan) == 1:
            return lr_multiplier(step, steps=self.steps, warmup=self.warmup, schedule=self.schedule)
        return planned_multiplier(step, self.plan, self.schedule)
