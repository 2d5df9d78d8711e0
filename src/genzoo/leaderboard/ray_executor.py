"""Leaderboard cells as tasks on a Ray cluster (``genzoo bench --executor ray [--address auto]``).

Each cell is one task asking for one CPU (and one GPU when its budget trains on ``cuda``); it runs
``run_and_record`` with one torch thread, as the local ``jobs`` workers do, so its results equal the
local executor's. A task whose worker or node dies is retried (``MAX_RETRIES``); an error inside a
cell is recorded in its result, not retried. The task returns the result and this process writes
``cells/<key>/result.json`` too, so the board is complete even when the worker node does not share
the output directory (its pictures are then left on that node).

Ray is imported only here, when the ray executor is asked for: ``import genzoo`` does not need it.
"""
from __future__ import annotations

import logging
import os
import socket
from contextlib import contextmanager
from pathlib import Path

from ..errors import ConfigError
from .cells import Cell
from .runner import failed_result, run_and_record, write_result

#: tries after the first when a cell's worker process or node dies
MAX_RETRIES = 3
#: seconds to wait for the cluster's address to answer before giving up
CONNECT_SECONDS = 5.0


def import_ray():
    """The ``ray`` module, or a one-line ConfigError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError("the ray executor needs Ray: pip install 'genzoo[ray]'") from None
    return ray


@contextmanager
def ray_cluster(address: str | None = None):
    """Connect to the Ray cluster at ``address`` ("auto" or host:port; None: ``$RAY_ADDRESS`` if set)
    for the block; with no address, use the Ray this process already initialised, else start a local
    one with this machine's CPUs. Yields a description of the cluster; disconnects (stopping a local
    cluster it started) after."""
    ray = import_ray()
    if ray.is_initialized() and address is not None:
        raise ConfigError("Ray is already initialised in this process; leave the address out to use that connection")
    started = not ray.is_initialized()
    if started:
        _connect(ray, address or os.environ.get("RAY_ADDRESS") or None)  # as ray.init reads it, checked the same way
    try:
        resources = ray.cluster_resources()
        gpus = f", {resources['GPU']:g} GPU(s)" if resources.get("GPU") else ""
        yield f"a Ray cluster of {len(ray.nodes())} node(s), {resources.get('CPU', 0):g} CPU(s){gpus}"
    finally:
        if started:
            ray.shutdown()


def _connect(ray, address: str | None) -> None:
    quiet = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    if address is None:
        ray.init(num_cpus=os.cpu_count(), **quiet)
        return
    if address != "auto":
        _check_reachable(address)
    try:
        ray.init(address=address, **quiet)
    except Exception as e:  # ConnectionError, TimeoutError, RuntimeError, ... by Ray version
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError(f"cannot connect to a Ray cluster at {address!r} ({first}); "
                          "start one with `ray start --head` or fix --address") from None


def _check_reachable(address: str) -> None:
    """Fail within ``CONNECT_SECONDS`` when nothing answers at host:port (Ray itself would retry for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"a Ray address is 'auto' or HOST:PORT, got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as e:
        why = "timed out" if isinstance(e, TimeoutError) else (e.strerror or type(e).__name__)
        raise ConfigError(f"no Ray cluster answers at {address} ({why} within {CONNECT_SECONDS:g} s); "
                          "start one there with `ray start --head` or fix --address") from None


def cell_gpus(cell: Cell, budgets: dict | None) -> int:
    """GPUs the cell's task asks for: 1 when its budget trains on CUDA (``{"device": "cuda"}``), else 0."""
    device = (budgets or {}).get(cell.model, {}).get(cell.kind, {}).get("device", "cpu")
    return int(str(device).startswith("cuda"))


def run_tasks(fn, calls: list, gpus: list[int] | None = None):
    """Run ``fn(*args)`` for each ``(item, args)`` of ``calls`` as a task of the connected cluster (one CPU,
    ``gpus[i]`` GPUs, retried when its worker or node dies); yield ``(item, result)`` as tasks finish,
    the result being the RayError when a task could not run on any try. Shared by the leaderboard and
    ``genzoo scaling sweep``."""
    ray = import_ray()
    gpus = gpus or [0] * len(calls)
    if any(gpus) and not ray.cluster_resources().get("GPU"):
        raise ConfigError("some cells train on cuda but the Ray cluster has no GPU; add a GPU node or train on cpu")
    task = ray.remote(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False)(fn)
    pending = {task.options(num_gpus=g).remote(*args): item for (item, args), g in zip(calls, gpus)}
    while pending:
        (ref,), _ = ray.wait(list(pending), num_returns=1)
        item = pending.pop(ref)
        try:
            result = ray.get(ref)
        except ray.exceptions.RayError as e:  # its node died on every try, or the task could not run there
            result = e
        yield item, result


def run_on_ray(todo: list[Cell], out: Path, quick: bool, seed: int, budgets: dict | None):
    """Submit every cell as a task of the connected cluster; yield ``(cell, result)`` as tasks finish."""
    out = Path(out).absolute()  # workers need not share this process's working directory
    calls = [(cell, (cell, out, quick, seed, False, 1, budgets)) for cell in todo]
    for cell, result in run_tasks(run_and_record, calls, [cell_gpus(cell, budgets) for cell in todo]):
        if isinstance(result, BaseException):
            result = failed_result(cell, result)
        write_result(out, cell, result)  # the worker's copy may be on another node's disk
        yield cell, result
