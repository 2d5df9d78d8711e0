"""Run leaderboard cells: train with the family's budget, evaluate, draw pictures, record results.

Each finished cell writes ``cells/<model>__<data>/result.json``; with ``resume`` those cells are not
recomputed after a crash. A cell that fails is recorded with its error (the report shows it) instead
of stopping the whole board. Cells run in this process, in local worker processes (``jobs``) or as
tasks on a Ray cluster (``executor="ray"``, see ``ray_executor``); the results are the same.
"""
from __future__ import annotations

import json
import math
import multiprocessing
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..errors import ConfigError
from ..serialization import write_json
from .budgets import EVAL_OVERRIDES, LIKELIHOOD_SECONDS, MAX_EVAL_EXAMPLES, NUM_SAMPLES, budget_for
from .cells import Cell, available_metrics, select_cells
from .report import write_reports


LIKELIHOOD_METRICS = ("nll", "bpd", "perplexity")
#: order in which parallel workers take cells: the kinds whose cells cost most come first
KIND_ORDER = {"text": 0, "image": 1, "2d": 2}
#: where cells run: "local" (this process, or ``jobs`` worker processes) or "ray" (tasks on a Ray cluster)
EXECUTORS = ("local", "ray")


def _finite_floats(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if torch.is_tensor(v):
            v = v.item()
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[k] = float(v)
        elif isinstance(v, str):
            out[k] = v
    return out


def _pictures(model, test, cell_dir: Path, samples) -> list[str]:
    from ..plotting import save_density, save_samples

    pics = []
    if samples is not None and test.kind == "audio":  # listenable: report.html embeds an audio player
        from ..data.wav import write_wav

        write_wav(cell_dir / "samples.wav", samples[:8], test.info.get("sample_rate", 8000))
        pics.append("samples.wav")
    elif samples is not None and samples.dtype != torch.long:
        save_samples(samples[: (1000 if test.kind == "2d" else 64)], cell_dir / "samples.png")
        pics.append("samples.png")
    if samples is not None and samples.ndim == 5:  # video clips: an animated GIF beside the frame grid
        from ..video_gif import save_gif

        save_gif(samples[:16], cell_dir / "samples.gif", nrow=8)
        pics.append("samples.gif")
    if test.kind == "2d" and model.log_prob_kind != "none":
        resolution = _affordable_resolution(model, test.x[:256])
        if resolution:
            b = float(test.x.abs().max()) * 1.15
            save_density(lambda x: model.log_prob(x), cell_dir / "density.png", bounds=(-b, b, -b, b), resolution=resolution)
            pics.append("density.png")
    if (cell_dir / "run" / "loss.png").exists():
        pics.append("run/loss.png")
    return pics


def _likelihood_results(model, test, metrics: list[str], cap: int, seconds: float, probe: int = 8) -> tuple[dict, int]:
    """Likelihood metrics on as many test examples as fit in about ``seconds`` (ODE, AIS and IWAE
    likelihoods cost seconds per batch), judged from a timed run on the first ``probe``; at least
    ``probe`` examples (that run's result is kept when no more fit). Returns (results, examples)."""
    import genzoo as gz

    cap = min(cap, len(test))
    if not metrics:
        return {}, cap
    t0 = time.perf_counter()
    results = gz.evaluate(model, test, metrics=metrics, max_examples=min(probe, cap))
    per_example = (time.perf_counter() - t0) / min(probe, cap)
    n = max(min(probe, cap), min(cap, int(seconds / max(per_example, 1e-9))))
    if n > probe:
        results = gz.evaluate(model, test, metrics=metrics, max_examples=n)
    return results, n


@torch.no_grad()
def _affordable_resolution(model, probe, seconds: float = 15.0) -> int:
    """Grid resolution whose density heatmap costs about ``seconds`` (ODE/IWAE/AIS likelihoods are
    slow); 0 when even a coarse 30x30 grid would not fit."""
    t0 = time.perf_counter()
    model.log_prob(probe)
    per_point = (time.perf_counter() - t0) / len(probe)
    resolution = min(200, int((seconds / max(per_point, 1e-9)) ** 0.5))
    return resolution if resolution >= 30 else 0


def run_cell(cell: Cell, out: Path, quick: bool, seed: int = 0, progress: bool = True, budgets: dict | None = None) -> dict:
    """Train and evaluate one cell. ``budgets`` ({family: {kind: {steps, batch_size, lr, overrides, num_samples}}})
    replaces the board's budget for the cells it names (the demo gives each family what it needs)."""
    import genzoo as gz
    from ..registry import MODELS

    cell_dir = out / "cells" / cell.key
    cell_dir.mkdir(parents=True, exist_ok=True)
    cls = MODELS.get(cell.model)
    train, test = gz.load_dataset(cell.data, "train"), gz.load_dataset(cell.data, "test")
    budget = {**budget_for(cls, train, quick), **(budgets or {}).get(cell.model, {}).get(train.kind, {})}
    overrides = dict(budget.pop("overrides", {}))
    n = int(budget.pop("num_samples", 0)) or NUM_SAMPLES.get(test.kind, (64, 256))[0 if quick else 1]
    torch.manual_seed(seed)  # initial weights: a cell gives the same result whichever worker runs it, after whichever cell
    model = gz.build(cell.model, train, **overrides)
    t0 = time.perf_counter()
    # no periodic sample grids or checkpoints inside a cell: the board draws its own samples once
    gz.Trainer(model, train, seed=seed, out=cell_dir / "run", progress=progress, sample_every=0,
               checkpoint_every=0, **budget).fit()
    train_seconds = time.perf_counter() - t0
    model.eval()
    for field, value in EVAL_OVERRIDES.get(cell.model, {}).get(train.kind, {}).items():
        if not hasattr(model.config, field):
            raise ConfigError(f"EVAL_OVERRIDES names {field!r}, which {cell.model}'s config does not have; fix budgets.py")
        setattr(model.config, field, value)
    t0 = time.perf_counter()
    with torch.no_grad():
        samples = model.sample(n, generator=torch.Generator().manual_seed(seed))
    sample_seconds = time.perf_counter() - t0
    max_examples = MAX_EVAL_EXAMPLES[0 if quick else 1]
    metrics = available_metrics(test.kind)
    likelihood = [m for m in metrics if m in LIKELIHOOD_METRICS and model.log_prob_kind != "none"]
    others = [m for m in metrics if m not in LIKELIHOOD_METRICS and (m != "modes" or "modes" in test.info)]
    lik, lik_examples = _likelihood_results(model, test, likelihood, max_examples, LIKELIHOOD_SECONDS[0 if quick else 1])
    results = _finite_floats(lik)
    results.update(_finite_floats(gz.evaluate(model, test, metrics=others, samples=samples, max_examples=max_examples,
                                              generator=torch.Generator().manual_seed(seed), train_data=train)))
    if test.has_density and "nll" in results:
        results["true_entropy"] = float(test.info["entropy"])
    text = None
    if samples.dtype == torch.long and test.tokenizer is not None:
        text = [test.tokenizer.decode(row) for row in samples[:3].tolist()]
    return {"model": cell.model, "data": cell.data, "kind": test.kind, "log_prob_kind": model.log_prob_kind,
            "budget": budget, "overrides": overrides, "train_seconds": train_seconds,
            # set only when the time limit, not the test split or MAX_EVAL_EXAMPLES, chose the count
            "likelihood_examples": lik_examples if likelihood and lik_examples < min(max_examples, len(test)) else None,
            "samples_per_second": n / max(sample_seconds, 1e-9), "metrics": results, "text_samples": text,
            "pictures": [f"cells/{cell.key}/{p}" for p in _pictures(model, test, cell_dir, samples)], "error": None}


def run_and_record(cell: Cell, out: Path, quick: bool, seed: int, progress: bool, threads: int | None = None,
                   budgets: dict | None = None) -> dict:
    """Run one cell (a failure is recorded, not raised), write its ``result.json``, return the result.

    ``cpu_seconds`` (this process's CPU time for the cell) is what the cell costs on an idle core,
    whatever else shares the machine."""
    if threads:
        torch.set_num_threads(threads)
    cpu0 = time.process_time()
    try:
        result = run_cell(cell, out, quick, seed=seed, progress=progress, budgets=budgets)
    except Exception as e:  # a broken family is reported, not fatal for the board
        result = failed_result(cell, e)
    result["cpu_seconds"] = time.process_time() - cpu0
    write_result(out, cell, result)
    return result


def failed_result(cell: Cell, error: BaseException) -> dict:
    """The result recorded for a cell that raised ``error`` (its first line; the traceback kept apart)."""
    return {"model": cell.model, "data": cell.data, "kind": cell.kind, "error": f"{type(error).__name__}: {error}".splitlines()[0],
            "traceback": "".join(traceback.format_exception(error, limit=5)), "metrics": {}, "pictures": []}


def write_result(out: Path, cell: Cell, result: dict) -> Path:
    """Write ``cells/<key>/result.json`` under ``out``."""
    result_file = out / "cells" / cell.key / "result.json"
    result_file.parent.mkdir(parents=True, exist_ok=True)
    write_json(result_file, result)
    return result_file


def check_executor(executor: str, address: str | None, jobs: int) -> None:
    """One-line errors for ``--executor`` / ``--address`` / ``--jobs`` (the leaderboard, scaling sweeps)."""
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if address is not None and executor != "ray":
        raise ConfigError(f"an address ({address}) is only for the ray executor: --executor ray --address ...")
    if jobs < 1:
        raise ConfigError(f"--jobs must be a positive integer, got {jobs}")


def run_leaderboard(out="bench", *, quick: bool = False, families=None, datasets=None, resume: bool = False,
                    seed: int = 0, progress: bool = True, jobs: int = 1, budgets: dict | None = None,
                    cells: list[Cell] | None = None, executor: str = "local", address: str | None = None) -> Path:
    """Train and evaluate every selected cell; write ``results.json``, ``report.md``, ``report.html``.

    ``jobs > 1`` runs that many cells at once in worker processes, one torch thread each (a board of
    small models uses the cores better this way than with threads inside one model). ``budgets``:
    see ``run_cell``; ``cells`` replaces the families x datasets selection by an explicit list.
    ``executor="ray"`` runs each cell as a task on a Ray cluster instead (``address``: "auto" or
    host:port of a running cluster; None starts a local one), one CPU and torch thread per cell."""
    check_executor(executor, address, jobs)
    if jobs > 1 and executor == "ray":
        raise ConfigError("--jobs is for the local executor; on Ray the cluster's CPUs set how many cells run at once")
    started = time.perf_counter()
    out = Path(out)
    cells = select_cells(families, datasets, quick=quick) if cells is None else list(cells)
    out.mkdir(parents=True, exist_ok=True)
    done: dict[str, dict] = {}
    todo = []
    for cell in cells:
        result_file = out / "cells" / cell.key / "result.json"
        if resume and result_file.is_file():
            done[cell.key] = json.loads(result_file.read_text())
        else:
            todo.append(cell)
    # the bar opens once the executor is ready: a cluster that cannot be reached is one clean error line
    with (_finishing(todo, out, quick, seed, progress, jobs, budgets, executor, address) as (finished, machine),
          tqdm(total=len(cells), initial=len(done), desc="leaderboard", unit="cell", disable=not progress) as bar):
        for cell, result in finished:
            done[cell.key] = result
            bar.set_postfix_str(cell.key)
            bar.update()
    results = [done[cell.key] for cell in cells]
    write_json(out / "results.json", {"quick": quick, "seed": seed, "cells": results, "machine": machine,
                                      "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                      "wall_seconds": time.perf_counter() - started, "jobs": jobs, "executor": executor})
    return write_reports(results, out, quick=quick, machine=machine)


@contextmanager
def _finishing(todo: list[Cell], out: Path, quick: bool, seed: int, progress: bool, jobs: int, budgets: dict | None,
               executor: str, address: str | None):
    """Run the cells; yields ``(finished, machine)``: an iterator of ``(cell, result)`` in the order the
    cells finish, and the line that says where they ran."""
    if jobs == 1 and executor == "local":
        yield ((cell, run_and_record(cell, out, quick, seed, progress, budgets=budgets)) for cell in todo), _machine()
        return
    # longest cells first (text, then images, then 2-D) so no long cell is left running alone at the end
    todo = sorted(todo, key=lambda cell: KIND_ORDER.get(cell.kind, len(KIND_ORDER)))
    if executor == "ray":
        from .ray_executor import ray_cluster, run_on_ray

        with ray_cluster(address) as cluster:
            yield run_on_ray(todo, out, quick, seed, budgets), f"{_machine(threads=1)}, cells on {cluster}"
        return
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run_and_record, cell, out, quick, seed, False, 1, budgets): cell for cell in todo}
        yield ((futures[f], f.result()) for f in as_completed(futures)), f"{_machine(threads=1)}, {jobs} cells at a time"


def _machine(threads: int | None = None) -> str:
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    try:  # Linux names the CPU model here; platform.processor() is often empty
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {threads or torch.get_num_threads()} thread(s) per cell"


def cell_is_healthy(result: dict) -> bool:
    return result.get("error") is None and all(
        not isinstance(v, float) or math.isfinite(v) for v in result.get("metrics", {}).values())
