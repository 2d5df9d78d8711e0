"""Subprocess entry for the kill -9 test: train a toy and SIGKILL ourselves at a given step."""
import os
import signal
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import toys  # noqa: E402

import genzoo as gz  # noqa: E402

if __name__ == "__main__":
    torch.set_num_threads(1)
    out, family, steps, ckpt_every, kill_at = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    cls = {"flow": toys.ToyFlow, "gan": toys.ToyGAN}[family]

    def killer(trainer, step, logs):
        if step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    gz.Trainer(toys.build(cls), toys.data(), steps=steps, batch_size=16, lr=1e-2, seed=3, out=out,
               checkpoint_every=ckpt_every, log_every=2, callbacks=[killer], progress=False).fit()
