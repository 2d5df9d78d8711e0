"""The same --seed gives the same initial weights, whatever ran before in the process."""
import torch

from genzoo.cli.runs import train_run
from genzoo.serialization import load_model


def test_same_seed_same_trained_model_after_other_rng_use(tmp_path):
    weights = []
    for i in range(2):
        torch.randn(100 * (i + 1))  # different global-RNG history before each run
        out = train_run("maf", "8gaussians", steps=3, batch_size=16, seed=5, out=tmp_path / f"run{i}", progress=False)
        weights.append(load_model(out).state_dict())
    assert weights[0].keys() == weights[1].keys()
    for name in weights[0]:
        torch.testing.assert_close(weights[0][name], weights[1][name], rtol=0, atol=0)
