"""The DP-SGD step: per-example clipping, the noiseless limit, Poisson batches, refusals."""
from __future__ import annotations

import pytest
import torch
from dp_helpers import dp_trainer, fixture

import genzoo as gz
from genzoo.errors import ConfigError
from genzoo.privacy import PrivacyConfig, poisson_indices
from genzoo.privacy.dp import PerExampleGrads, clipped_sum, skip_data_init


def test_per_example_gradients_and_clipping():
    model, data = fixture("maf")
    assert skip_data_init(model)  # ActNorm starts at the identity under DP (no data-dependent init)
    batch = data.batch(torch.arange(6))
    engine = PerExampleGrads(model, model.loss)
    losses, _, grads = engine(batch)
    assert engine.vectorised
    params = [p for p in model.parameters() if p.requires_grad]
    for i in (0, 5):  # vmap's per-example gradient is the gradient of the loss on that example alone
        alone = torch.autograd.grad(model.loss(data.batch(torch.tensor([i])))["loss"], params)
        for g, a in zip(grads, alone):
            torch.testing.assert_close(g[i], a, rtol=1e-4, atol=1e-6)
    sums, norms = clipped_sum(grads, 0.01)
    assert (norms > 0.01).all()
    factor = (0.01 / (norms + 1e-6)).clamp(max=1)
    clipped = torch.stack([torch.cat([(g[i] * factor[i]).flatten() for g in grads]).norm() for i in range(6)])
    assert (clipped <= 0.01 + 1e-7).all()  # every example's contribution has norm <= C
    assert torch.cat([s.flatten() for s in sums]).norm() <= 6 * 0.01 + 1e-6


def test_noiseless_step_is_the_mean_gradient_of_the_poisson_batch():
    tr = dp_trainer("maf", PrivacyConfig(noise_multiplier=0.0, max_grad_norm=1e6))
    tr._setup()
    tr.optimizers = []  # keep the gradient the step leaves in p.grad
    idx = tr._next_indices()
    assert 0 < len(idx) < len(tr.data)
    batch = tr.data.batch(idx)
    tr.privacy.step(tr, batch)
    params = [p for p in tr.model.parameters() if p.requires_grad]
    mean = torch.autograd.grad(tr.model.loss(batch)["loss"], params)
    scale = len(idx) / tr.privacy.expected_batch  # Σ_i g_i / (qN) = mean gradient * |S| / (qN)
    for p, m in zip(params, mean):
        torch.testing.assert_close(p.grad, m * scale, rtol=1e-4, atol=1e-6)


def test_poisson_sampling_is_seeded_and_variable():
    draws = [poisson_indices(1000, 0.1, torch.Generator().manual_seed(3)) for _ in range(2)]
    assert torch.equal(*draws)
    sizes = {len(poisson_indices(1000, 0.1, torch.Generator().manual_seed(s))) for s in range(5)}
    assert len(sizes) > 1 and all(50 < n < 150 for n in sizes)


def test_batchnorm_is_refused_with_its_name():
    model, data = fixture("maf")
    model.pre_norm = torch.nn.BatchNorm1d(2)
    with pytest.raises(ConfigError, match=r"layer pre_norm \(BatchNorm1d\)") as err:
        gz.Trainer(model, data, steps=1, progress=False, privacy=PrivacyConfig(noise_multiplier=1.0))
    assert "\n" not in str(err.value)


def test_ebm_and_gan_variants_that_read_data_outside_d_are_refused():
    with pytest.raises(ConfigError, match="not supported for ebm"):
        dp_trainer("ebm")
    model, data = fixture("gan")
    model.config.unrolled = 2
    with pytest.raises(ConfigError, match="unrolled > 0") as err:
        gz.Trainer(model, data, steps=1, progress=False, privacy=PrivacyConfig(noise_multiplier=1.0))
    assert "\n" not in str(err.value)


def test_unreachable_target_and_large_delta():
    with pytest.raises(ConfigError, match="unreachable"):
        dp_trainer("maf", PrivacyConfig(target_epsilon=0.05, delta=1e-5))
    with pytest.warns(UserWarning, match=r">= 1/N .* use --dp-delta"):
        dp_trainer("maf", PrivacyConfig(noise_multiplier=1.0, delta=0.5))


def test_gpt_is_vectorised_and_matches_the_loop():
    model, data = fixture("gpt")
    engine, batch = PerExampleGrads(model, model.loss), data.batch(torch.arange(3))
    losses, _, grads = engine(batch)
    assert engine.vectorised
    loop_losses, _, loop_grads = engine._loop(batch)
    torch.testing.assert_close(losses, loop_losses)
    for g, h in zip(grads, loop_grads):
        torch.testing.assert_close(g, h, rtol=1e-4, atol=1e-6)


def test_a_step_counter_counts_batches_not_examples():
    model, data = fixture("vae")  # its KL warm-up counts steps inside loss(); vmap falls back to the loop
    before = int(model.step)
    with pytest.warns(UserWarning, match="loop over examples"):
        PerExampleGrads(model, model.loss)(data.batch(torch.arange(4)))
    assert int(model.step) == before + 1


def test_vqvae_with_an_ema_codebook_is_refused():
    model, data = fixture("vqvae")
    if not model.config.ema:
        pytest.skip("the vqvae fixture trains its codebook by gradient")
    with pytest.raises(ConfigError, match="ema=false"):
        gz.Trainer(model, data, steps=1, progress=False, privacy=PrivacyConfig(noise_multiplier=1.0))
