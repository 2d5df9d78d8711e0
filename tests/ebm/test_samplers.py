"""Langevin / MALA / HMC target the right distribution; AIS recovers known log-partition functions."""
import math

import pytest
import torch

from genzoo.samplers.ais import ais_log_z
from genzoo.samplers.langevin import hmc, mala, sgld

SCALES = torch.tensor([0.5, 0.8, 1.0, 1.5, 2.0])


def gaussian_energy(x):
    return 0.5 * ((x / SCALES) ** 2).sum(1)


def ring_energy(radius=3.0, sd=0.5, k=8):
    ang = torch.arange(k) * (2 * math.pi / k)
    mu = radius * torch.stack([ang.cos(), ang.sin()], 1)
    energy = lambda x: -torch.logsumexp(-((x[:, None] - mu) ** 2).sum(-1) / (2 * sd * sd), 1)  # noqa: E731
    return energy, math.log(k * 2 * math.pi * sd * sd)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("which", ["mala", "hmc"])
def test_adaptive_samplers_hit_target_acceptance_and_moments(which):
    x0 = torch.zeros(1000, 5)
    if which == "mala":
        x, info = mala(gaussian_energy, x0, 150, 0.1, generator=gen(), adapt_steps=75)
        target = 0.574
    else:
        x, info = hmc(gaussian_energy, x0, 60, 0.1, n_leapfrog=5, generator=gen(), adapt_steps=30)
        target = 0.65
    assert len(info.accept_rate) == (150 if which == "mala" else 60)
    late = sum(info.accept_rate[-20:]) / 20
    assert abs(late - target) < 0.12, late
    std = x.std(0)
    assert torch.allclose(std, SCALES, rtol=0.12), std
    assert x.mean(0).abs().max() < 0.25


def test_samplers_are_seeded():
    x0 = torch.zeros(8, 5)
    a, _ = mala(gaussian_energy, x0, 5, 0.1, generator=gen(3))
    b, _ = mala(gaussian_energy, x0, 5, 0.1, generator=gen(3))
    c = sgld(gaussian_energy, x0, 5, 0.01, generator=gen(3))
    d = sgld(gaussian_energy, x0, 5, 0.01, generator=gen(3))
    assert torch.equal(a, b) and torch.equal(c, d)


def test_sgld_small_step_is_close_to_the_target():
    x = sgld(gaussian_energy, torch.zeros(2000, 5), 400, 0.02, generator=gen())
    assert torch.allclose(x.std(0), SCALES, rtol=0.1)


def test_ais_gaussian_log_z_within_one_percent():
    true = 2.5 * math.log(2 * math.pi) + SCALES.log().sum().item()
    log_z, se = ais_log_z(gaussian_energy, (5,), n_chains=128, n_temps=100, generator=gen())
    assert abs(log_z - true) < 0.01 * abs(true), (log_z, se, true)
    assert 0 < se < 0.1


@pytest.mark.slow
def test_ais_mixture_log_z_within_one_percent():
    energy, true = ring_energy()
    log_z, se = ais_log_z(energy, (2,), n_chains=256, n_temps=500, base_std=3.0, transition="mala",
                          step_size=0.5, generator=gen())
    assert abs(log_z - true) < 0.01 * abs(true), (log_z, se, true)
    assert abs(log_z - true) < 3 * se + 0.01
