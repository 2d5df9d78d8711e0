"""genzoo's ε is Opacus' accountant's ε; σ is Opacus' calibration; bad budgets are one-line errors."""
from __future__ import annotations

import pytest
from opacus.accountants import PRVAccountant, RDPAccountant
from opacus.accountants.utils import get_noise_multiplier

from genzoo.errors import ConfigError
from genzoo.privacy import PrivacyConfig, calibrate, epsilon


@pytest.mark.parametrize("name, cls, steps", [("rdp", RDPAccountant, 300), ("prv", PRVAccountant, 40)])
def test_epsilon_equals_opacus(name, cls, steps):
    sigma, q, delta = 1.1, 0.02, 1e-5
    reference = cls()
    for _ in range(steps):
        reference.step(noise_multiplier=sigma, sample_rate=q)
    # genzoo keeps the history run-length encoded, in two segments as after a resume
    ours = epsilon(name, [[sigma, q, steps // 2], [sigma, q, steps - steps // 2]], delta)
    assert abs(ours - reference.get_epsilon(delta=delta)) < 1e-6


def test_calibration_is_opacus():
    assert calibrate(8.0, 1e-5, 0.01, 500, "rdp") == get_noise_multiplier(
        target_epsilon=8.0, target_delta=1e-5, sample_rate=0.01, steps=500, accountant="rdp")
    assert epsilon("rdp", [[calibrate(8.0, 1e-5, 0.01, 500, "rdp"), 0.01, 500]], 1e-5) <= 8.0


@pytest.mark.parametrize("kwargs, needle", [
    ({"target_epsilon": 0.0}, "--dp-epsilon must be a positive"),
    ({"target_epsilon": -1.0}, "--dp-epsilon must be a positive"),
    ({}, "exactly one of"),
    ({"target_epsilon": 8.0, "noise_multiplier": 1.0}, "exactly one of"),
    ({"target_epsilon": 8.0, "delta": 0.0}, "--dp-delta"),
    ({"target_epsilon": 8.0, "max_grad_norm": 0.0}, "--dp-max-grad-norm"),
    ({"target_epsilon": 8.0, "accountant": "gdp"}, "unknown accountant"),
])
def test_bad_config_is_one_line(kwargs, needle):
    with pytest.raises(ConfigError, match=needle) as err:
        PrivacyConfig(**kwargs)
    assert "\n" not in str(err.value)


def test_unreachable_epsilon():
    with pytest.raises(ConfigError, match="unreachable") as err:
        calibrate(1e-3, 1e-5, 0.5, 1000, "rdp")
    assert "\n" not in str(err.value)
