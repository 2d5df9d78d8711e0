"""Scaling sweeps: train a grid of model sizes N x data budgets D and record held-out loss and compute.

Each cell builds the family at one size and trains it for ``steps = ceil(D / (batch_size x elements))``
steps, where ``elements`` is the tokens per sequence (text: block_size) or the dimensions per example
(images, 2-D), so D counts tokens (text) or dimensions seen (bits/dim families). The Trainer's cosine
schedule decays over the cell's own ``steps``: the learning-rate schedule is set per run, as Hoffmann et
al. 2022 (sec. 3.1 and appendix B) found necessary, instead of cutting one long schedule short.

Sizes: ``LxE`` (GPT: n_layer x n_embd, heads of 16 dimensions when n_embd divides by 16, else one head)
or, for any family, ``key=value[+key=value...]`` config overrides (tuple items separated by ``:``,
e.g. ``hidden=64:64``). Each cell records

* ``N``: non-embedding parameters (Kaplan et al. 2020, sec. 1.1: the parameters of every module but
  ``nn.Embedding``s; a tied output head counts once, in the embedding) and ``N_total``;
* ``D``: tokens/dimensions actually trained on (``steps x batch_size x elements``);
* ``FLOPs = 6 N D`` and ``FLOPs_measured``: ``torch.utils.flop_counter.FlopCounterMode`` over one
  training step's forward and backward, times ``steps`` (it counts matmuls and convolutions only);
* ``loss``: held-out nats/token (text) or bits/dim (other kinds), ``wall_seconds`` and ``cpu_seconds``.

Cells are written to ``cells/<size>__<D>/result.json`` as they finish, so a second call recomputes only
missing or failed cells; ``results.csv`` gathers the healthy ones for ``genzoo scaling fit``. Cells run in
this process, in ``jobs`` worker processes (one torch thread each) or as Ray tasks (``executor="ray"``,
through the leaderboard's ``ray_executor``).
"""
from __future__ import annotations

import csv
import json
import math
import multiprocessing
import re
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..errors import ConfigError
from ..serialization import write_json

CSV_COLUMNS = ("size", "N", "N_total", "D", "FLOPs", "FLOPs_measured", "loss", "steps", "wall_seconds")
GPT_SHAPE = re.compile(r"^(\d+)x(\d+)$")


@dataclass(frozen=True)
class SweepCell:
    """One (size, token budget) cell of a sweep and the settings it trains with."""
    family: str
    data: str
    size: str
    tokens: float
    batch_size: int
    block_size: int
    lr: float | None
    seed: int
    eval_examples: int

    @property
    def key(self) -> str:
        return f"{self.size.replace('=', '-').replace('+', '_')}__D{int(self.tokens)}"


def size_overrides(family: str, size: str) -> dict:
    """Config overrides of a size: ``LxE`` for GPT shapes, else ``key=value[+key=value]`` (tuples as ``64:64``)."""
    shape = GPT_SHAPE.match(size)
    if shape and family == "gpt":
        n_layer, n_embd = int(shape[1]), int(shape[2])
        return {"n_layer": n_layer, "n_embd": n_embd, "n_head": n_embd // 16 if n_embd % 16 == 0 else 1}
    pairs = [p.split("=", 1) for p in size.split("+")]
    if not all(len(p) == 2 and p[0].strip() for p in pairs):
        hint = "LxE (n_layer x n_embd) for gpt, or " if family == "gpt" else ""
        raise ConfigError(f"size {size!r}: write {hint}key=value[+key=value] config overrides")
    # strings, converted to each field's type by the config as `--set` values are; ':' separates tuple items
    return {k.strip(): v.strip().replace(":", ",") for k, v in pairs}


def parse_list(text: str, what: str) -> list[str]:
    items = [p.strip() for p in str(text).split(",") if p.strip()]
    if not items:
        raise ConfigError(f"--{what} is empty; give a comma-separated list")
    return items


def parse_tokens(text: str, what: str = "tokens") -> list[float]:
    values = []
    for item in parse_list(text, what):
        try:
            v = float(item)
        except ValueError:
            raise ConfigError(f"--{what}: {item!r} is not a number (write e.g. 1e5,3e5)") from None
        if not (math.isfinite(v) and v >= 1):
            raise ConfigError(f"--{what} values must be at least 1, got {item}")
        values.append(v)
    return values


def parameter_counts(model: torch.nn.Module) -> tuple[int, int]:
    """(non-embedding, total) parameters; shared tensors count once."""
    total = {id(p): p.numel() for p in model.parameters()}
    embedding = {id(p) for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()}
    return sum(n for i, n in total.items() if i not in embedding), sum(total.values())


def step_flops(model, batch) -> int:
    """FLOPs of one training step's forward and backward, counted by ``torch.utils.flop_counter``."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        model.loss(batch)["loss"].backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def run_sweep_cell(cell: SweepCell, out: Path, threads: int | None = None) -> dict:
    """Train and evaluate one cell, write ``cells/<key>/result.json``, return it (errors are recorded)."""
    if threads:
        torch.set_num_threads(threads)
    cpu0, t0 = time.process_time(), time.perf_counter()
    try:
        result = _train_cell(cell, Path(out))
    except Exception as e:  # one broken cell is reported, not fatal for the sweep
        result = {"error": f"{type(e).__name__}: {e}".splitlines()[0],
                  "traceback": "".join(traceback.format_exception(e, limit=5))}
    result = {**asdict(cell), **result, "wall_seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - cpu0}
    return write_cell(Path(out), cell, result)


def write_cell(out: Path, cell: SweepCell, result: dict) -> dict:
    """Write ``cells/<key>/result.json`` under ``out``; return the result."""
    (out / "cells" / cell.key).mkdir(parents=True, exist_ok=True)
    write_json(out / "cells" / cell.key / "result.json", result)
    return result


def _train_cell(cell: SweepCell, out: Path) -> dict:
    import genzoo as gz
    from ..cli.runs import load_data

    train, test = (load_data(cell.data, split, _data_args(cell.data, cell.block_size)) for split in ("train", "test"))
    torch.manual_seed(cell.seed)  # the same initial weights whichever worker runs the cell
    model = gz.build(cell.family, train, **size_overrides(cell.family, cell.size))
    elements = int(train.x[0].numel())
    steps = max(1, math.ceil(cell.tokens / (cell.batch_size * elements)))
    N, N_total = parameter_counts(model)
    flops = step_flops(model, train.batch(torch.arange(min(cell.batch_size, len(train)))))
    t0 = time.perf_counter()
    gz.Trainer(model, train, steps=steps, batch_size=cell.batch_size, lr=cell.lr, seed=cell.seed, ema_decay=0.0,
               out=None, progress=False, sample_every=0, checkpoint_every=0).fit()
    train_seconds = time.perf_counter() - t0
    model.eval()
    metrics = gz.evaluate(model, test, metrics=["nll"], max_examples=cell.eval_examples)
    metrics = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) or torch.is_tensor(v)}
    loss = metrics["nll"] if train.kind == "text" else metrics.get("bpd", metrics["nll"])
    D = steps * cell.batch_size * elements
    return {"kind": train.kind, "N": N, "N_total": N_total, "D": D, "steps": steps, "FLOPs": 6 * N * D,
            "FLOPs_measured": flops * steps, "loss": loss, "metrics": metrics, "train_seconds": train_seconds,
            "error": None}


def _data_args(data: str, block_size: int) -> dict:
    return {"block_size": block_size} if data == "pystdlib" or data.startswith("text:") else {}


def plan(family: str, data: str, sizes: list[str], tokens: list[float] | None = None, *, flops: list[float] | None = None,
         batch_size: int = 16, block_size: int = 64, lr: float | None = None, seed: int = 0,
         eval_examples: int = 256) -> list[SweepCell]:
    """The grid of cells: every size x every budget in ``tokens``, or (IsoFLOP profiles for Approach 2)
    every size x every compute budget in ``flops``, with ``D = C / 6N`` for the size's non-embedding N.
    The family, data and sizes are checked up front (each size is built once): a bad one fails before
    any training."""
    import genzoo as gz
    from ..cli.runs import load_data

    if (tokens is None) == (flops is None):
        which = "not both" if tokens is not None else "one of them is required"
        raise ConfigError(f"give the budgets as --tokens D1,D2,... or as --flops C1,C2,... (IsoFLOP profiles); {which}")
    for value, name in ((batch_size, "batch-size"), (block_size, "block-size"), (eval_examples, "eval-examples")):
        if value < 1:
            raise ConfigError(f"--{name} must be a positive integer, got {value}")
    train = load_data(data, "train", _data_args(data, block_size))
    N = {size: parameter_counts(gz.build(family, train, **size_overrides(family, size)))[0] for size in sizes}
    budgets = {size: tokens if tokens is not None else [c / (6 * N[size]) for c in flops] for size in sizes}
    return [SweepCell(family, data, size, float(d), batch_size, block_size, lr, seed, eval_examples)
            for size in sizes for d in budgets[size]]


def run_sweep(cells: list[SweepCell], out, *, jobs: int = 1, executor: str = "local", address: str | None = None,
              progress: bool = True) -> Path:
    """Run the cells not already done under ``out``; write ``results.csv`` and ``sweep.json``; return ``out``."""
    from tqdm.auto import tqdm

    from ..leaderboard.runner import check_executor

    check_executor(executor, address, jobs)
    out = Path(out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    done, todo = {}, []
    for cell in cells:
        f = out / "cells" / cell.key / "result.json"
        result = json.loads(f.read_text()) if f.is_file() else None
        if result is not None and result.get("error") is None:
            done[cell.key] = result
        else:
            todo.append(cell)
    with tqdm(total=len(cells), initial=len(done), desc="sweep", unit="cell", disable=not progress) as bar:
        for cell, result in _finishing(todo, out, jobs, executor, address):
            done[cell.key] = result
            bar.set_postfix_str(cell.key)
            bar.update()
    results = [done[cell.key] for cell in cells]
    write_results_csv(out / "results.csv", results)
    write_json(out / "sweep.json", {"cells": [asdict(c) for c in cells], "jobs": jobs, "executor": executor,
                                    "failed": {r["size"] + f" D={r['tokens']:g}": r["error"] for r in results if r.get("error")},
                                    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})
    return out


def _finishing(todo: list[SweepCell], out: Path, jobs: int, executor: str, address: str | None):
    if executor == "ray":
        from ..leaderboard.ray_executor import ray_cluster, run_tasks

        with ray_cluster(address):
            for cell, result in run_tasks(run_sweep_cell, [(cell, (cell, out, 1)) for cell in todo]):
                if isinstance(result, BaseException):
                    result = {**asdict(cell), "error": f"{type(result).__name__}: {result}".splitlines()[0]}
                yield cell, write_cell(out, cell, result)  # the worker's copy may be on another node's disk
        return
    if jobs == 1:
        yield from ((cell, run_sweep_cell(cell, out)) for cell in todo)
        return
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run_sweep_cell, cell, out, 1): cell for cell in todo}
        yield from ((futures[f], f.result()) for f in as_completed(futures))


def write_results_csv(path: Path, results: list[dict]) -> None:
    """One row per healthy cell with the columns ``genzoo scaling fit`` reads (N, D, FLOPs, loss, ...)."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for r in results:
            if r.get("error") is None:
                writer.writerow({k: r[k] for k in CSV_COLUMNS})
