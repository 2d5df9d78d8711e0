"""Rewards as plug-ins: functions that score completions of prompts, with TRL's reward-function signature

    reward(prompts: list[str], completions: list[str], **columns) -> list[float]

(``columns``: other per-sample data, e.g. ``modules`` for ``doctest``; a plug-in ignores what it does
not use). ``get_reward(name)`` resolves

- ``python-syntax``: 1.0 when the prompt's function, completed and cut where it ends (``function_source``),
  parses with ``ast`` and has a statement besides its docstring; else 0.0;
- ``doctest``: the share of the docstring's ``>>>`` examples the completed function passes, run by
  ``doctest`` in genzoo's sandbox (``genzoo.code.sandbox``: a subprocess with time, memory, file and
  process limits, no network, read-only files outside its work directory; in the namespace of
  ``modules[i]`` when given), programs of a batch in parallel; 0.0 if it times out, crashes or does
  not parse;
- ``model:DIR``: a trained reward model (``genzoo finetune BASE --method reward``);
- ``MODULE:FUNCTION``: any importable function with the signature above;
- names added with ``register_reward``.

``score_completions`` runs a reward robustly: a sample whose reward raises or is NaN/infinite scores 0
and is counted; if every sample fails, it is a one-line ``DataError``.
"""
from __future__ import annotations

import ast
import importlib
import json
import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import torch

from ..errors import ConfigError, DataError, did_you_mean

RewardFn = Callable[..., list[float]]
REWARDS: dict[str, RewardFn] = {}


def register_reward(name: str):
    """Decorator: make a reward function available as ``--reward NAME``."""
    def decorator(fn: RewardFn) -> RewardFn:
        REWARDS[name] = fn
        return fn
    return decorator


def get_reward(name: str) -> RewardFn:
    """The reward function called ``name`` (see the module docstring)."""
    if name in REWARDS:
        return REWARDS[name]
    if name.startswith("model:"):
        return ModelReward(name[len("model:"):])
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            fn = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"--reward {name}: cannot import {attr!r} from {module!r} ({e})") from None
        if not callable(fn):
            raise ConfigError(f"--reward {name}: {attr!r} is not a function")
        return fn
    raise ConfigError(f"unknown reward {name!r}{did_you_mean(name, REWARDS)}; or use model:DIR or MODULE:FUNCTION")


# ----------------------------------------------------------------------------- robust scoring
@dataclass
class Scores:
    """Rewards per sample (failed samples score 0), how many failed, and the first failure."""

    values: torch.Tensor
    failed: int = 0
    first_error: str | None = None


def _call(reward: RewardFn, prompts: list[str], completions: list[str], columns: dict[str, list]) -> list[tuple[Any, str | None]]:
    """``(value, error)`` per sample: all at once, or one by one when the whole call fails."""
    n = len(completions)
    try:
        values = list(reward(prompts, completions, **columns))
        if len(values) != n:
            raise DataError(f"returned {len(values)} values for {n} completions")
        return [(v, None) for v in values]
    except Exception as e:  # noqa: BLE001 - a plug-in may raise anything: find the samples that fail
        if n == 1:
            return [(None, f"{type(e).__name__}: {e}")]
    return [pair for i in range(n) for pair in
            _call(reward, prompts[i:i + 1], completions[i:i + 1], {k: v[i:i + 1] for k, v in columns.items()})]


def score_completions(reward: RewardFn, prompts: list[str], completions: list[str], name: str = "reward",
                      strict: bool = True, **columns: list[Any]) -> Scores:
    """Rewards of the samples; one whose reward raises, is not a number or is NaN/infinite scores 0 and
    is counted in ``failed``. With ``strict``, all samples failing is a one-line ``DataError``."""
    values, failed, first = [], 0, None
    for value, error in _call(reward, prompts, completions, columns):
        try:
            number = float(value) if error is None else math.nan
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            failed += 1
            first = first or error or f"returned {value!r}"
            number = 0.0
        values.append(number)
    if strict and completions and failed == len(completions):
        raise DataError(f"reward {name!r} failed on all {failed} samples (first: {first}); fix the reward function")
    return Scores(torch.tensor(values, dtype=torch.float32), failed, first)


# ----------------------------------------------------------------------------- python-syntax
def function_source(prompt: str, completion: str) -> str:
    """``prompt + completion`` cut where the prompt's (top-level) function ends: before the first
    completion line that is not blank and starts at column 0."""
    text = prompt + completion
    lines = text.splitlines(keepends=True)
    first = prompt.count("\n") + (0 if prompt.endswith("\n") or not prompt else 1)  # first line begun by the completion
    for i in range(first, len(lines)):
        if lines[i].strip() and not lines[i][0].isspace():
            return "".join(lines[:i])
    return text


def _has_body(source: str) -> bool:
    """The source parses and its first function has a statement besides its docstring."""
    try:
        with warnings.catch_warnings():  # a generated "1_a" or "'\\d'" warns at parse time; it is scored, not reported
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    fn = next((node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    if fn is None:
        return False
    body = fn.body[1:] if ast.get_docstring(fn, clean=False) is not None else fn.body
    return bool(body)


@register_reward("python-syntax")
def python_syntax(prompts: list[str], completions: list[str], **columns: Any) -> list[float]:
    return [float(_has_body(function_source(p, c))) for p, c in zip(prompts, completions)]


# ----------------------------------------------------------------------------- doctest
_MARK = "@@genzoo-doctest "
_RUNNER = """
import doctest, importlib, json
source, name, module = {source!r}, {name!r}, {module!r}
namespace = dict(vars(importlib.import_module(module))) if module else {{"__name__": "__completion__"}}
exec(compile(source, "<completion>", "exec"), namespace)
runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
for test in doctest.DocTestFinder(recurse=False).find(namespace[name], name, globs=namespace):
    runner.run(test, out=lambda text: None)
failed, attempted = runner.summarize(verbose=False)[:2]
print("\\n{mark}" + json.dumps([failed, attempted]))
"""


def _doctest_program(prompt: str, completion: str, module: str | None) -> str | None:
    """The sandbox program that runs the docstring's examples on the completed function (None: no body)."""
    source = function_source(prompt, completion)
    try:
        tree = ast.parse(prompt.rstrip("\n") + "\n    pass\n")
        fn = next(node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)))
    except (SyntaxError, ValueError, StopIteration):
        raise DataError("doctest: the prompt is not the start of a Python function") from None
    if ">>>" not in (ast.get_docstring(fn) or ""):
        raise DataError(f"doctest: the docstring of {fn.name}() has no >>> examples to run")
    if not _has_body(source):
        return None
    return _RUNNER.format(source=source, name=fn.name, module=module or "", mark=_MARK)


def _doctest_share(run) -> float:
    result = [line for line in run.stdout.splitlines() if line.startswith(_MARK)]
    if not run.passed or not result:
        return 0.0
    failed, attempted = json.loads(result[-1][len(_MARK):])
    return (attempted - failed) / attempted if attempted else 0.0


def doctest_score(prompt: str, completion: str, module: str | None = None, timeout: float = 5.0) -> float:
    """The share of the ``>>>`` examples of ``prompt``'s docstring that the completed function passes."""
    return doctest_reward([prompt], [completion], [module], timeout)[0]


@register_reward("doctest")
def doctest_reward(prompts: list[str], completions: list[str], modules: list[str] | None = None, timeout: float = 5.0,
                   **columns: Any) -> list[float]:
    """Scores of a batch, the programs run in parallel in genzoo's sandbox (``genzoo.code.sandbox``)."""
    from ..code.sandbox import Limits, run_programs

    modules = modules or [None] * len(prompts)
    programs = [_doctest_program(p, c, m) for p, c, m in zip(prompts, completions, modules)]
    todo = [i for i, prog in enumerate(programs) if prog is not None]
    runs = run_programs([programs[i] for i in todo], Limits(timeout=timeout))
    scores = [0.0] * len(prompts)
    for i, run in zip(todo, runs):
        scores[i] = _doctest_share(run)
    return scores


# ----------------------------------------------------------------------------- model:DIR
class ModelReward:
    """``model:DIR``: the rewards of a trained ``GPTRewardModel`` for prompt + completion (no EOS;
    cut to its context)."""

    def __init__(self, path, batch_size: int = 32):
        import genzoo as gz
        from .reward import GPTRewardModel

        self.model = gz.load(path)
        if not isinstance(self.model, GPTRewardModel):
            raise ConfigError(f"--reward model:{path}: holds a {type(self.model).__name__}, not a reward model "
                              "(train one with genzoo finetune BASE --method reward)")
        if self.model.tokenizer is None:
            raise ConfigError(f"--reward model:{path}: the reward model has no tokenizer")
        self.batch_size = batch_size

    @torch.no_grad()
    def __call__(self, prompts: list[str], completions: list[str], **columns: Any) -> list[float]:
        tok, block = self.model.tokenizer, self.model.config.block_size
        rows = [(tok.encode(p) + tok.encode(c))[:block] for p, c in zip(prompts, completions)]
        out = []
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start:start + self.batch_size]
            ids = torch.full((len(chunk), max(map(len, chunk))), tok.pad_token_id, dtype=torch.long)
            for i, row in enumerate(chunk):
                ids[i, :len(row)] = torch.tensor(row, dtype=torch.long)
            out += self.model.rewards(ids, torch.tensor([len(r) for r in chunk])).tolist()
        return out


from . import mol_rewards  # noqa: E402,F401 - registers qed (molecules)
