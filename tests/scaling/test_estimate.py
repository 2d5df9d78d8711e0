"""Cost estimates against hand-computed numbers, and the Chinchilla-optimal split of a budget."""
from __future__ import annotations

import math

import pytest

from genzoo.errors import ConfigError
from genzoo.scaling.estimate import PUBLISHED_LAW, chinchilla_optimal, estimate_costs


def test_flops_hours_and_memory_by_hand():
    c = estimate_costs(7e9, 1.4e12, accelerator_tflops=400, mfu=0.4, n_layer=32, d_model=4096, n_head=32,
                       seq_len=2048, micro_batch=1, inference_tokens=1000)
    assert c["train_flops"] == pytest.approx(5.88e22)  # 6 x 7e9 x 1.4e12
    assert c["accelerator_hours"] == pytest.approx(5.88e22 / 1.6e14 / 3600)  # 102,083 h
    m = c["memory_bytes"]
    assert (m["weights"], m["gradients"], m["optimizer"]) == (14e9, 14e9, 84e9)  # 2N + 2N + 12N bytes
    # Korthikanti et al. eq. 1: s b h (34 + 5 a s / h) per layer = 2048 * 4096 * (34 + 5 * 32 * 2048 / 4096)
    per_layer = 2048 * 4096 * (34 + 80)
    assert m["activations"] == 32 * per_layer
    assert m["activations_checkpointed"] == 32 * 2 * 2048 * 4096 + per_layer
    assert c["inference_flops_per_token"] == 2 * 7e9 + 2 * 32 * 2048 * 4096
    assert c["inference_flops"] == 1000 * c["inference_flops_per_token"]
    fp32 = estimate_costs(1e6, 1e6, precision="fp32")["memory_bytes"]
    assert (fp32["weights"], fp32["gradients"], fp32["optimizer"]) == (4e6, 4e6, 8e6)


def test_chinchilla_optimal_balances_the_two_terms():
    o = chinchilla_optimal(1e21)
    assert 6 * o["params"] * o["tokens"] == pytest.approx(1e21)
    law = PUBLISHED_LAW
    # at the optimum, alpha A / N^alpha = beta B / D^beta (the Lagrange condition of Hoffmann et al. eq. 4)
    assert law["alpha"] * law["A"] / o["params"] ** law["alpha"] == pytest.approx(law["beta"] * law["B"] / o["tokens"] ** law["beta"])
    bigger = chinchilla_optimal(1e22)
    assert bigger["params"] / o["params"] == pytest.approx(10 ** (law["beta"] / (law["alpha"] + law["beta"])))
    assert not math.isnan(o["loss"]) and bigger["loss"] < o["loss"]


@pytest.mark.parametrize("kw, message", [({"mfu": 1.5}, "--mfu is a fraction"), ({"params": -1}, "--params must be a positive"),
                                         ({"precision": "fp8"}, "unknown precision 'fp8'")])
def test_bad_options(kw, message):
    with pytest.raises(ConfigError, match=message):
        estimate_costs(**{"params": 1e6, "tokens": 1e6, **kw})
