"""Runs under torchrun for tests/training/test_distributed.py (and in-process for the 1-process runs).

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/training/ddp_worker.py OUT [ddp|fsdp]
    ... ddp_worker.py OUT kill NAME KILL_AT [resume] [fsdp]

trains the tiny GPT, DDPM and GAN of ``RUNS`` (``fsdp``: GPT and DDPM, sharded) into OUT/<name> with
``train_run`` (what ``genzoo train`` calls); ``kill`` trains RUNS[NAME] to ``RESUME_STEPS`` steps
with a checkpoint every 2, and rank 1 SIGKILLs itself after step KILL_AT (rank 0 has written the
checkpoint of the step before; 0 = no kill).
"""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import torch

# name -> (family, data, global batch, lr, config overrides, data options); 5 steps each. DDPM at its
# paper's lr 2e-4: Adam turns float-rounding differences of near-zero gradient entries into steps of up
# to ~lr: at 1e-3 the attention to_k biases (true gradient exactly 0: softmax ignores a shift of all
# keys) differed by 4e-5 after 5 steps; gradients agree to 8e-7 relative (1e-15 in float64)
RUNS = {
    "gpt": ("gpt", "pystdlib", 8, 1e-3, {"n_layer": "1", "n_embd": "32", "n_head": "2"}, {"block_size": "32"}),
    "ddpm": ("ddpm", "digits", 8, 2e-4, {"block_out_channels": "8,16", "attention_levels": "1", "norm_num_groups": "4",
                                   "attention_head_dim": "4"}, {}),
    "ebm": ("ebm", "moons", 16, 1e-3, {"hidden": "16", "depth": "2", "sgld_steps": "3", "buffer_size": "64"}, {}),
    "gan": ("gan", "moons", 16, 1e-3, {"n_generators": "4", "mbstd": "false", "hidden": "32", "n_critic": "2",
                                 "diffaug": ""}, {}),
}
STEPS, RESUME_STEPS = 5, 8
FSDP_RUNS = ("gpt", "ddpm")  # families trained through model.loss


def train(name: str, out: Path, steps: int = STEPS, **kw) -> Path:
    from genzoo.cli.runs import train_run

    family, data, batch, lr, overrides, data_args = RUNS[name]
    return train_run(family, data, steps=steps, batch_size=batch, lr=lr, out=out / name, overrides=overrides,
                     data_args=data_args, progress=False, sample_every=0, overwrite=True, **kw)


def train_until_killed(name: str, out: Path, kill_at: int, resume: bool, fsdp: bool = False) -> None:
    """RUNS[name] for RESUME_STEPS steps with a checkpoint every 2; rank 1 dies by SIGKILL after step
    ``kill_at`` (0: never)."""
    import genzoo as gz

    family, data, batch, lr, overrides, data_args = RUNS[name]
    train_set = gz.load_dataset(data, **{k: int(v) for k, v in data_args.items()})
    torch.manual_seed(0)
    model = gz.build(family, train_set, **overrides)

    def die(trainer, step, logs):
        if kill_at and step == kill_at and trainer.world.rank == 1:
            os.kill(os.getpid(), signal.SIGKILL)

    gz.Trainer(model, train_set, steps=RESUME_STEPS, batch_size=batch, lr=lr, out=out, progress=False,
               sample_every=0, checkpoint_every=2, resume=resume, callbacks=[die], fsdp=fsdp).fit()


if __name__ == "__main__":
    torch.set_num_threads(1)
    out, mode = Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "ddp"
    if mode == "kill":  # OUT kill NAME KILL_AT [resume] [fsdp]
        train_until_killed(sys.argv[3], out, int(sys.argv[4]), resume="resume" in sys.argv[5:], fsdp="fsdp" in sys.argv[5:])
    else:  # OUT [ddp|fsdp]
        for name in (RUNS if mode == "ddp" else FSDP_RUNS):
            train(name, out, fsdp=mode == "fsdp")
