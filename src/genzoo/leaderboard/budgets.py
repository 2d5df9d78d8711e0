"""Fixed, documented training budgets of the leaderboard, per family and data kind.

``(quick_steps, default_steps)`` for the built-in families, chosen from measured per-step CPU cost
so the quick board takes seconds per cell and the default board about 30 minutes on 2 cores.
Batch size and learning rate come from the family's ``budget_for_kind(data.kind)``. A family not listed here
(a new model) gets its own ``benchmark_budget()``: adding a model needs no edit in this file.
"""
from __future__ import annotations

from typing import Any

STEPS: dict[str, dict[str, tuple[int, int]]] = {
    "gaussian": {"2d": (100, 500), "image": (50, 300)},
    "maf": {"2d": (200, 1500), "image": (100, 1000)},
    "iaf": {"2d": (200, 1500)},
    "nsf": {"2d": (200, 1500), "image": (100, 1000)},
    "realnvp": {"2d": (200, 1500), "image": (10, 80)},  # multi-scale conv flow: ~1.5 s/step on digits
    "glow": {"2d": (200, 1500), "image": (50, 300)},
    "ffjord": {"2d": (150, 400)},
    "vae": {"2d": (200, 2000), "image": (150, 1500), "text": (20, 300)},  # text: GRU over 128-char rows
    "gan": {"2d": (300, 7000), "image": (100, 800)},  # 2d default = GAN.kind_defaults (what `genzoo train` runs)
    "ebm": {"2d": (60, 500), "image": (8, 40)},
    "ddpm": {"2d": (60, 400), "image": (15, 300)},
    "flow-matching": {"2d": (200, 1500), "image": (30, 300)},
    "score-sde": {"2d": (200, 1500), "image": (30, 300)},
    "ncsn": {"2d": (150, 1000), "image": (30, 300)},
    "made": {"image": (150, 1500)},
    "pixelcnn": {"image": (40, 300)},
    "vqvae": {"image": (100, 1000)},
    "gpt": {"text": (30, 300)},
}

#: batch sizes that differ from the family's default_budget, per data kind
BATCH_SIZE: dict[str, dict[str, int]] = {"vae": {"text": 32}}

#: learning rates that differ from the family's default_budget (short ODE-flow runs need a larger step)
LR: dict[str, float] = {"ffjord": 3e-3}

#: config fields set after training, for sampling and evaluation only, per family and data kind:
#: - the text VAE's IWAE bound with its default k = 1000 would decode 1000 GRU sequences per test
#:   example (k = 20 is still a bound);
#: - the exact-trace likelihood ODE of flow matching / score-SDE on 64-dim images costs 64 backward
#:   passes per step: at tolerance 1e-5 it took minutes for 8 digits, at 1e-3 about 4 s per digit,
#:   changing log p by ~0.3 nats (0.007 bits/dim) against tolerance 1e-4; the score-SDE's ODE sampler
#:   uses the same tolerance;
#: - NCSN's annealed Langevin sampler runs 50 instead of 100 steps per noise level (500 network
#:   calls per sample instead of 1000).
ODE_TOLERANCE = {"ode_rtol": 1e-3, "ode_atol": 1e-3}
EVAL_OVERRIDES: dict[str, dict[str, dict[str, Any]]] = {
    "vae": {"text": {"iwae_k": 20}},
    "flow-matching": {"image": ODE_TOLERANCE},
    "score-sde": {"image": ODE_TOLERANCE},
    "ncsn": {"image": {"n_steps_each": 50}},
}

#: samples drawn for sample-based metrics and test examples for likelihoods, (quick, default)
NUM_SAMPLES = {"2d": (500, 1000), "image": (64, 256), "text": (32, 200)}
MAX_EVAL_EXAMPLES = (256, 1000)
#: seconds the likelihood metrics may spend per cell: ODE/AIS likelihoods score fewer test examples
#: (the first ones, at least 8; each cell records how many in ``likelihood_examples``)
LIKELIHOOD_SECONDS = (10.0, 60.0)


def budget_for(cls, data, quick: bool) -> dict[str, Any]:
    """Trainer budget (``steps``, ``batch_size``, ``lr``, optional ``overrides``) for one cell."""
    steps = STEPS.get(cls.model_type, {}).get(data.kind)
    if steps is None:
        return cls.benchmark_budget(data, quick=quick)
    budget = {k: v for k, v in cls.budget_for_kind(data.kind).items() if k in ("batch_size", "lr")}
    budget["steps"] = steps[0] if quick else steps[1]
    budget["lr"] = LR.get(cls.model_type, budget.get("lr"))
    budget["batch_size"] = BATCH_SIZE.get(cls.model_type, {}).get(data.kind, budget.get("batch_size"))
    return budget
