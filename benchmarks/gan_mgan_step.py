"""Step time of MGAN (K generators) against a plain one-generator GAN step, one thread, one process.

``after``: the K generators as one batched computation (``gan_nets.grouped_forward``, the library's
code); ``before``: the per-generator loop that ``GAN.generate`` used until this change (kept here
only to measure it). Config as in the 25gaussians grid of benchmarks/results/gan.md: MLP 3×64,
z_dim 16, batch 256, ``ns`` loss, Adam. Prints ms per ``training_step`` (median of ``--repeats``
blocks of ``--steps`` steps, after a warm-up).

    OMP_NUM_THREADS=1 python benchmarks/gan_mgan_step.py --k 25
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

import genzoo as gz
from genzoo.models.gan import GAN


def loop_generate(self, z, y=None, which=None):
    """The old ``GAN.generate``: each generator on its own rows, one after another."""
    if len(self.generators) == 1:
        return self.generators[0](z, y)
    out = z.new_empty(len(z), *self.config.shape)
    for k, g in enumerate(self.generators):
        rows = (which == k).nonzero().squeeze(1)
        if len(rows):
            out[rows] = g(z[rows], None if y is None else y[rows])
    return out


def ms_per_step(model, x, steps: int, repeats: int) -> float:
    opts = model.configure_optimizers(1e-3)
    for i in range(10):
        model.training_step(x, i, optimizers=opts)
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        for i in range(steps):
            model.training_step(x, i, optimizers=opts)
        times.append((time.process_time() - t0) / steps * 1e3)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--k", type=int, default=25)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    torch.set_num_threads(1)
    data = gz.load_dataset("25gaussians", split="train")
    x = data.batch(torch.arange(256))
    kw = dict(hidden=64, depth=3, z_dim=16, lr_d_mult=2)
    torch.manual_seed(0)
    plain = ms_per_step(gz.build("gan", data, **kw), x, a.steps, a.repeats)
    torch.manual_seed(0)
    batched = ms_per_step(gz.build("gan", data, n_generators=a.k, **kw), x, a.steps, a.repeats)
    original = GAN.generate
    GAN.generate = loop_generate
    try:
        torch.manual_seed(0)
        looped = ms_per_step(gz.build("gan", data, n_generators=a.k, **kw), x, a.steps, a.repeats)
    finally:
        GAN.generate = original
    print(f"plain GAN step: {plain:.2f} ms | MGAN K={a.k} loop (before): {looped:.2f} ms ({looped / plain:.1f}x) | "
          f"MGAN K={a.k} batched (after): {batched:.2f} ms ({batched / plain:.1f}x)  [CPU ms per step, 1 thread]")


if __name__ == "__main__":
    main()
