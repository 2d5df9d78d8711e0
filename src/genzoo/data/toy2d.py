"""2-D toy sets (float32 (N, 2); train 20,000 / test 5,000; train drawn with seed 0, test with seed 1).

- ``moons``: ``sklearn.datasets.make_moons(n, noise=0.05, random_state=seed)`` -- the exact arrays of
  the zuko anchor (``bench/anchors/zuko_moons.py``), so flows compare with zuko on the same data.
- ``circles``: ``make_circles(n, factor=0.5, noise=0.08, random_state=seed) * 3`` (FFJORD's).
- ``spirals``: FFJORD's "2spirals": r = sqrt(u) * 3 pi, two arms (-r cos r, r sin r) and its mirror,
  + U(0, 0.5) jitter, / 3, + N(0, 0.1^2) noise.
- ``checkerboard``, ``8gaussians``, ``25gaussians``: exact densities (``densities.py``);
  ``data.log_density(x)`` is exact, ``info["entropy"]`` is the true differential entropy in nats and
  ``info["modes"]`` / ``info["mode_std"]`` describe the modes (for mode-coverage metrics).
"""
from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor

from ..registry import register_dataset
from . import densities
from .base import GenDataset
from .common import SEEDS, check_split, generator

SIZES = {"train": 20000, "test": 5000}


class DensityDataset(GenDataset):
    """A 2-D set sampled from a known density: ``log_density`` is exact, ``density.sample`` draws more."""

    def __init__(self, name: str, split: str, density, x: Tensor):
        info = {"entropy": density.entropy, "modes": density.modes.float().tolist(),
                "mode_std": density.mode_std}
        super().__init__(name, split, "2d", x, info=info)
        self.density = density

    def log_density(self, x: Tensor) -> Tensor:
        return self.density.log_prob(x)


# ----------------------------------------------------------------------------- sampled sets
def _shuffle_and_jitter(x: np.ndarray, rng: np.random.RandomState, noise: float) -> np.ndarray:
    """sklearn's ``shuffle`` then ``+ normal(noise)`` with the same RandomState calls, so the arrays
    equal sklearn's bit for bit (checked in tests) without importing scikit-learn (1-3 s)."""
    idx = np.arange(len(x))
    rng.shuffle(idx)
    return x[idx] + rng.normal(scale=noise, size=x.shape)


def _moons(n: int, seed: int) -> np.ndarray:
    """= ``sklearn.datasets.make_moons(n, noise=0.05, random_state=seed)[0]``."""
    t_out, t_in = np.linspace(0, np.pi, n // 2), np.linspace(0, np.pi, n - n // 2)
    x = np.stack([np.append(np.cos(t_out), 1 - np.cos(t_in)), np.append(np.sin(t_out), 1 - np.sin(t_in) - 0.5)], 1)
    return _shuffle_and_jitter(x, np.random.RandomState(seed), 0.05)


def _circles(n: int, seed: int) -> np.ndarray:
    """= ``sklearn.datasets.make_circles(n, factor=0.5, noise=0.08, random_state=seed)[0] * 3``."""
    t_out = np.linspace(0, 2 * np.pi, n // 2, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, n - n // 2, endpoint=False)
    x = np.stack([np.append(np.cos(t_out), 0.5 * np.cos(t_in)), np.append(np.sin(t_out), 0.5 * np.sin(t_in))], 1)
    return _shuffle_and_jitter(x, np.random.RandomState(seed), 0.08) * 3


def _spirals(n: int, seed: int) -> np.ndarray:
    rng = np.random.RandomState(seed)
    r = np.sqrt(rng.rand(n // 2, 1)) * 540 * (2 * np.pi) / 360
    d1x = -np.cos(r) * r + rng.rand(n // 2, 1) * 0.5
    d1y = np.sin(r) * r + rng.rand(n // 2, 1) * 0.5
    x = np.vstack((np.hstack((d1x, d1y)), np.hstack((-d1x, -d1y)))) / 3
    x += rng.randn(*x.shape) * 0.1
    return x[rng.permutation(len(x))]


SAMPLED = {"moons": _moons, "circles": _circles, "spirals": _spirals}
DENSITIES = {"checkerboard": densities.Checkerboard2D, "8gaussians": densities.eight_gaussians,
             "25gaussians": densities.twenty_five_gaussians}


@functools.lru_cache(maxsize=None)
def density(name: str):
    """The exact density object of ``checkerboard`` / ``8gaussians`` / ``25gaussians`` (cached)."""
    return DENSITIES[name]()


@functools.lru_cache(maxsize=None)
def _points(name: str, split: str) -> Tensor:
    if name in SAMPLED:
        return torch.from_numpy(SAMPLED[name](SIZES[split], SEEDS[split])).float()
    return density(name).sample(SIZES[split], generator=generator(split))


def load_2d(name: str, split: str = "train") -> GenDataset:
    x = _points(name, check_split(name, split)).clone()
    if name in DENSITIES:
        return DensityDataset(name, split, density(name), x)
    return GenDataset(name, split, "2d", x)


def _register(name: str) -> None:
    def load(split: str = "train") -> GenDataset:
        return load_2d(name, split)

    load.__doc__ = f"The 2-D toy set {name!r} (N, 2) float32; see ``genzoo.data.toy2d``."
    register_dataset(name)(load)


for _name in (*SAMPLED, *DENSITIES):
    _register(_name)
