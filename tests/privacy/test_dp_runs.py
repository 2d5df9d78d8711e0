"""DP-SGD runs through the Trainer: privacy.json, ε = Opacus' accountant, exact resume, refusals."""
from __future__ import annotations

import json

import pytest
import torch
from dp_helpers import dp_trainer
from opacus.accountants import RDPAccountant

from genzoo.errors import ConfigError
from genzoo.privacy import PrivacyConfig


@pytest.mark.parametrize("name", ["gpt", "ddpm", "made", "vae"])
def test_family_trains_with_dp_and_writes_privacy_json(tmp_path, name):
    tr = dp_trainer(name, PrivacyConfig(target_epsilon=8.0, delta=1e-3), steps=2, out=tmp_path)
    tr.fit()
    report = json.loads((tmp_path / "privacy.json").read_text())
    assert {"epsilon", "delta", "noise_multiplier", "sample_rate", "steps", "max_grad_norm", "accountant"} <= set(report)
    assert report["steps"] == 2 and report["sample_rate"] == tr.batch_size / len(tr.data)
    reference = RDPAccountant()
    for _ in range(2):
        reference.step(noise_multiplier=report["noise_multiplier"], sample_rate=report["sample_rate"])
    assert abs(report["epsilon"] - reference.get_epsilon(delta=1e-3)) < 1e-6
    assert all(torch.isfinite(p).all() for p in tr.model.parameters())


@pytest.mark.parametrize("name", ["maf", "gan"])
def test_killed_and_resumed_run_equals_the_straight_run(tmp_path, name):
    dp_trainer(name, out=tmp_path / "run", stop=2).fit()
    resumed = dp_trainer(name, out=tmp_path / "run", resume=True)
    resumed.fit()
    straight = dp_trainer(name, out=tmp_path / "straight")
    straight.fit()
    a, b = resumed.model.state_dict(), straight.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.privacy.history == [[1.0, 0.5, 3]] == straight.privacy.history
    assert resumed.privacy.epsilon() == straight.privacy.epsilon()
    assert json.loads((tmp_path / "run" / "privacy.json").read_text()) == json.loads(
        (tmp_path / "straight" / "privacy.json").read_text())


def test_resuming_across_dp_and_plain_is_refused(tmp_path):
    dp_trainer("maf", out=tmp_path / "dp", steps=2, stop=1).fit()
    with pytest.raises(ConfigError, match="trained with DP-SGD; resume it with the same --dp") as err:
        dp_trainer("maf", False, out=tmp_path / "dp", steps=2, resume=True).fit()
    assert "\n" not in str(err.value)
    dp_trainer("maf", False, out=tmp_path / "plain", steps=2, stop=1).fit()
    with pytest.raises(ConfigError, match="trained without DP-SGD"):
        dp_trainer("maf", out=tmp_path / "plain", steps=2, resume=True).fit()


def test_gan_privatises_its_discriminator_only(tmp_path):
    tr = dp_trainer("gan", steps=2, out=tmp_path)
    tr.fit()
    assert {id(p) for p in tr.privacy.grads.params} == {id(p) for p in tr.model.discriminator.parameters()}
    assert json.loads((tmp_path / "privacy.json").read_text())["steps"] == 2
    assert {"d_loss", "g_loss", "grad_norm"} <= set(tr.history[-1])


def test_prv_accountant_run(tmp_path):
    from opacus.accountants import PRVAccountant

    tr = dp_trainer("maf", PrivacyConfig(target_epsilon=4.0, delta=1e-3, accountant="prv"), steps=2, out=tmp_path)
    tr.fit()
    report = json.loads((tmp_path / "privacy.json").read_text())
    reference = PRVAccountant()
    for _ in range(2):
        reference.step(noise_multiplier=report["noise_multiplier"], sample_rate=report["sample_rate"])
    assert report["accountant"] == "prv" and abs(report["epsilon"] - reference.get_epsilon(delta=1e-3)) < 1e-6
    assert report["epsilon"] <= 4.0
