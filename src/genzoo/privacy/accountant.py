"""The privacy ledger: Opacus' accountants, with a JSON history so a resumed run keeps its ε.

DP-SGD with Poisson sampling rate q and noise multiplier σ is, per step, the sampled Gaussian
mechanism; T steps compose. ``rdp`` (Mironov 2017; Mironov, Talwar & Zhang 2019) bounds the Rényi
divergence of order α of each step, ε_RDP(α) = T·RDP_q,σ(α), then converts,
ε = min_α [ε_RDP(α) + log((α-1)/α) - (log δ + log α)/(α-1)]. ``prv`` (Gopi, Lee & Wutschitz 2021)
composes the privacy-loss distributions numerically (tighter). Both are Opacus' own code: genzoo
only keeps the history list ``[(σ, q, steps), ...]`` that both accountants read.
"""
from __future__ import annotations

import math

from ..errors import ConfigError

ACCOUNTANTS = ("rdp", "prv")


def make_accountant(name: str, history=()):
    """An Opacus accountant (``"rdp"`` or ``"prv"``) holding ``history`` [(σ, q, steps), ...]."""
    from opacus.accountants import create_accountant

    if name not in ACCOUNTANTS:
        raise ConfigError(f"unknown accountant {name!r}; use one of: {', '.join(ACCOUNTANTS)}")
    acc = create_accountant(name)
    acc.history = [(float(s), float(q), int(n)) for s, q, n in history]
    return acc


def epsilon(name: str, history, delta: float) -> float:
    """ε spent by ``history`` at ``delta`` (0 before the first step)."""
    if not history:
        return 0.0
    return float(make_accountant(name, history).get_epsilon(delta=delta))


def rdp_floor(delta: float) -> float:
    """The ε that RDP reports as σ → ∞ (every RDP term 0): only the conversion term is left, so no
    noise reaches a target at or below it (Opacus' default orders α)."""
    from opacus.accountants.analysis.rdp import get_privacy_spent
    from opacus.accountants.rdp import RDPAccountant

    orders = RDPAccountant.DEFAULT_ALPHAS
    return float(get_privacy_spent(orders=orders, rdp=[0.0] * len(orders), delta=delta)[0])


def calibrate(target_epsilon: float, delta: float, sample_rate: float, steps: int, accountant: str) -> float:
    """The noise multiplier σ for which ``steps`` steps at ``sample_rate`` spend ``target_epsilon``
    (Opacus' ``get_noise_multiplier``: a bisection on σ, ε within 0.01 below the target)."""
    from opacus.accountants.utils import get_noise_multiplier

    try:
        if accountant == "rdp" and target_epsilon <= rdp_floor(delta):  # σ → ∞ cannot reach it: say so at once
            raise ValueError("below the RDP conversion floor")
        sigma = get_noise_multiplier(target_epsilon=target_epsilon, target_delta=delta, sample_rate=sample_rate,
                                     steps=steps, accountant=accountant)
    except ValueError:
        sigma = math.inf
    if not math.isfinite(sigma):
        raise ConfigError(f"target epsilon {target_epsilon:g} is unreachable with {steps} steps at sampling rate "
                          f"{sample_rate:.3g} and delta {delta:g}; raise --dp-epsilon, or lower --steps or --batch-size")
    return float(sigma)
