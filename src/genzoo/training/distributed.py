"""Data-parallel training with ``torch.distributed`` (torchrun; gloo on CPU, NCCL on CUDA).

One process per rank runs the same Trainer. Every rank draws the same seeded permutation and takes
its contiguous share of each global batch (``batch_size`` is the global batch; each rank holds
``batch_size / world`` examples); the losses' per-example noise comes from ``nn.batch_noise`` so the
global RNG stays in step across ranks. Gradients are averaged across ranks -- by
``DistributedDataParallel`` on the default path, and by an all-reduce before each optimizer step for
families that step their own optimizers (GAN, EBM) -- so a run on ``world`` ranks follows the
one-process run with the same global batch up to float summation order. Rank 0 writes everything;
every rank resumes from rank 0's checkpoint.
"""
from __future__ import annotations

import atexit
import contextlib
import datetime
import hashlib
import json
import logging
import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from ..errors import ConfigError

#: seconds a collective (and the rendezvous) may wait before the run fails instead of hanging
DEFAULT_TIMEOUT = float(os.environ.get("GENZOO_DIST_TIMEOUT", 300))


@dataclass(frozen=True)
class World:
    """This process's place in the run: ``rank`` of ``size`` processes (1 outside torchrun)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def launched_by_torchrun() -> bool:
    """True in a process that torchrun (or any env:// launcher) started with more than one rank."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def world() -> World:
    """The current process group's ranks (``World()`` when none is initialised)."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return World()


def init_from_env(device: str | torch.device = "cpu", timeout: float | None = None) -> World:
    """Join the process group torchrun describes (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR/PORT``).

    gloo for CPU, NCCL for CUDA (each rank on ``cuda:LOCAL_RANK``). A rendezvous that does not
    complete in ``timeout`` seconds raises a one-line error instead of hanging."""
    if not launched_by_torchrun():
        return World()
    if dist.is_initialized():
        return world()
    backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
    seconds = DEFAULT_TIMEOUT if timeout is None else timeout
    try:
        with _native_stderr_dropped():  # c10d's own connection-retry log lines: the error below says it in one
            dist.init_process_group(backend, timeout=datetime.timedelta(seconds=seconds))
        # leave the group before the interpreter's teardown: a gloo group still alive then can abort the
        # process ("terminate called without an active exception") after a run that went well
        atexit.register(shutdown)
    except (RuntimeError, ValueError, dist.DistBackendError) as e:
        where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
        raise ConfigError(f"rank {os.environ.get('RANK', '?')} could not join the process group at {where} within "
                          f"{seconds:g} s ({str(e).splitlines()[0][:120]}); check --rdzv-endpoint / MASTER_ADDR and "
                          "that every node was started") from None
    return world()


def rank_device(device: str | torch.device, w: World) -> str | torch.device:
    """``cuda`` means this rank's GPU (``cuda:LOCAL_RANK``) in a distributed run; other devices as given."""
    d = torch.device(device)
    if w.distributed and d.type == "cuda" and d.index is None:
        torch.cuda.set_device(w.local_rank)
        return torch.device("cuda", w.local_rank)
    return device


@contextlib.contextmanager
def _native_stderr_dropped():
    """File descriptor 2 goes to /dev/null inside the block (C++ logging bypasses ``sys.stderr``)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def local_batch_size(batch_size: int, size: int) -> int:
    """Each rank's share of the global batch; it must divide evenly (error lists the nearest sizes)."""
    if batch_size % size:
        lower = batch_size - batch_size % size
        options = [b for b in (lower, lower + size) if b > 0]
        raise ConfigError(f"--batch-size {batch_size} (the global batch) does not split over {size} processes; "
                          f"use {' or '.join(map(str, options))}")
    return batch_size // size


def check_same_everywhere(what: str, value) -> None:
    """Every rank must hold the same ``value`` (genzoo version, run settings); one-line error otherwise."""
    w = world()
    if not w.distributed:
        return
    digest = hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:12]
    digests: list[str] = [""] * w.size
    dist.all_gather_object(digests, digest)
    odd = [r for r, d in enumerate(digests) if d != digests[0]]
    if odd:
        raise ConfigError(f"ranks {', '.join(map(str, odd))} run with a different {what} than rank 0 "
                          f"(digests {digests}); launch every node with the same genzoo and the same command")


def _collective_device() -> torch.device:
    """Where small tensors for collectives live: NCCL only reduces CUDA tensors."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def all_true(flag: bool) -> bool:
    """Whether ``flag`` holds on every rank (so that all ranks take the same branch)."""
    if not world().distributed:
        return flag
    t = torch.tensor([0.0 if flag else 1.0], device=_collective_device())
    dist.all_reduce(t)
    return bool(t.item() == 0)


def mean_over_ranks(values: dict[str, float]) -> dict[str, float]:
    """Per-key mean over ranks (the logged loss of the global batch)."""
    if not world().distributed or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(t)
    return dict(zip(keys, (t / dist.get_world_size()).tolist()))


def average_gradients(params) -> None:
    """g <- mean over ranks of g, for the parameters that have gradients (one flat all-reduce)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def average_before_step(optimizers) -> list:
    """Hooks that average each optimizer's gradients before it steps (families with their own steps)."""
    def hook(opt, args, kwargs):
        average_gradients(p for group in opt.param_groups for p in group["params"])

    return [opt.register_step_pre_hook(hook) for opt in optimizers]


class LossModule(nn.Module):
    """``forward(batch) = loss(batch)`` (default ``model.loss``): what DistributedDataParallel wraps on the default path."""

    def __init__(self, model: nn.Module, loss=None):
        super().__init__()
        self.model = model
        self.loss = loss if loss is not None else model.loss

    def forward(self, batch):
        return self.loss(batch)


def data_parallel(model: nn.Module, device: torch.device, loss=None) -> nn.Module:
    """``DistributedDataParallel`` around ``loss`` (default ``model.loss``; parameters it does not use are allowed)."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
    return DistributedDataParallel(LossModule(model, loss), device_ids=ids, find_unused_parameters=True)


def launch_train(nproc: int, argv: list[str], batch_size: int | None = None) -> int:
    """``genzoo train ... --nproc N``: rerun the command (without ``--nproc``) as N ranks on this
    machine through torch's elastic launcher (torchrun's standalone rendezvous). Returns the exit
    code: 0, or the first failed rank's (2 for a one-line genzoo error, which that rank printed)."""
    import uuid

    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if nproc < 1:
        raise ConfigError(f"--nproc must be a positive integer, got {nproc}")
    if batch_size is not None:
        local_batch_size(batch_size, nproc)
    args = strip_option(argv, "--nproc")
    threads = os.environ.get("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    os.environ["OMP_NUM_THREADS"] = threads  # the ranks share the cores instead of each taking all of them
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=str(uuid.uuid4()), rdzv_backend="c10d",
                          rdzv_endpoint="127.0.0.1:0", max_restarts=0, monitor_interval=0.5)
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # the ranks print their own errors
    try:
        elastic_launch(config, sys.executable)("-m", "genzoo", *args)
    except ChildFailedError as e:
        # the rank that failed by itself (exit code > 0, e.g. 2 for a genzoo error), not one the launcher stopped
        rank, failure = min(e.failures.items(), key=lambda item: (item[1].exitcode <= 0, item[0]))
        print(f"error: rank {rank} of {nproc} failed (exit code {failure.exitcode}); the other ranks were stopped",
              file=sys.stderr)
        return failure.exitcode if failure.exitcode > 0 else 1
    return 0


def strip_option(argv: list[str], flag: str) -> list[str]:
    """``argv`` without ``flag VALUE`` / ``flag=VALUE``."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == flag:
            skip = True
        elif not a.startswith(flag + "="):
            out.append(a)
    return out
