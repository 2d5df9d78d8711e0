"""``genzoo prefs make RUN --reward NAME --prompts N --k K --out prefs.jsonl``: preference pairs from a
model's own samples, ranked by a reward.

Prompts come from the ``pystdlib`` corpus (the standard-library files ``genzoo.data.text`` reads),
leaving out one module in ten (``held_out_module``; the ``reward`` metric scores models on those):
every top-level function gives one, its ``def`` line(s) (``"header"``), or for the ``doctest`` reward
its ``def`` line(s) and a docstring with ``>>>`` examples (``"docstring"``, run in its module's
namespace). N of those that fit the model's context with ``max_new_tokens`` to spare are drawn with the
seeded generator; the model samples K completions of each (up to EOS or ``max_new_tokens``); the
reward scores them (``rewards.score_completions``: a failing sample scores 0 and is counted); the best
and the worst non-empty completion become ``chosen`` and ``rejected`` (prompts whose completions all
score the same give no pair and are counted as ties). The file is written atomically, in TRL's layout
plus ``score_chosen``/``score_rejected``.
"""
from __future__ import annotations

import ast
import functools
import re
import sysconfig
import zlib
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError, DataError
from .prefs_data import PreferencePair, write_prefs
from .rewards import get_reward, score_completions


def held_out_module(module: str) -> bool:
    """One module in ten (a stable hash of its name) is kept out of tuning: its prompts score models."""
    return zlib.crc32(module.encode()) % 10 == 0


@functools.lru_cache(maxsize=4)
def function_prompts(kind: str = "header", split: str = "train") -> tuple[tuple[str, str], ...]:
    """``(prompt, module)`` for the top-level functions of the pystdlib files, in corpus order; ``kind``
    is ``"header"`` (the def line(s)) or ``"docstring"`` (def + a docstring with >>> examples);
    ``split`` "train" (tuning: prefs make, PPO/GRPO) or "test" (the held-out modules, for evaluation)."""
    from ..data.text import PYSTDLIB_CHARS, stdlib_files

    if kind not in ("header", "docstring"):
        raise ConfigError(f"prompt kind must be 'header' or 'docstring', got {kind!r}")
    if split not in ("train", "test"):
        raise ConfigError(f"prompt split must be 'train' or 'test', got {split!r}")
    root, total, found = sysconfig.get_paths()["stdlib"], 0, []
    for rel in stdlib_files(root):
        source = Path(root, rel).read_bytes().decode("utf-8", errors="replace")
        total += len(source)
        module = rel[:-3].replace("/", ".").removesuffix(".__init__")
        if held_out_module(module) == (split == "test"):
            found += _prompts_of(source, module, kind)
        if total >= PYSTDLIB_CHARS:
            break
    return tuple(found)


_DEF = re.compile(r"^def \w+\(", re.M)
_TOP_LEVEL = re.compile(r"^(?![)\]#\s])", re.M)  # a line that starts a new top-level statement


def _prompts_of(source: str, module: str, kind: str) -> list[tuple[str, str]]:
    """The prompts of one file's top-level functions (each cut out and parsed alone: fast)."""
    out = []
    for match in _DEF.finditer(source):
        following = _TOP_LEVEL.search(source, match.end())
        text = source[match.start():following.start() if following else len(source)]
        try:
            fn = ast.parse(text).body[0]
        except (SyntaxError, ValueError, IndexError):
            continue
        lines = text.splitlines(keepends=True)
        if kind == "header":
            end = fn.body[0].lineno - 1  # the lines before the first statement (one-line defs have none)
        elif ">>>" in (ast.get_docstring(fn) or "") and len(fn.body) > 1:
            end = fn.body[0].end_lineno
        else:
            continue
        prompt = "".join(lines[:end])
        if prompt.strip() and prompt.endswith("\n"):
            out.append((prompt, module))
    return out


def select_prompts(model, reward: str, n: int, max_new_tokens: int, generator: torch.Generator,
                   split: str = "train") -> list[tuple[tuple[str, str], list[int]]]:
    """``((prompt, module), token ids)`` of up to ``n`` pystdlib prompts of ``split`` (docstring prompts
    for the ``doctest`` reward, else headers) drawn with ``generator`` that leave ``max_new_tokens`` of context;
    for a model trained on molecules, ``n`` empty prompts (the BOS token: whole molecules are sampled)."""
    from ..data.smiles import molecule_format

    if molecule_format(model.tokenizer) is not None:  # a molecule GPT: every sample starts from BOS
        return [(("", None), [model.tokenizer.eos_token_id])] * n
    candidates = function_prompts("docstring" if reward == "doctest" else "header", split)
    room = model.config.block_size - max_new_tokens
    selected = []
    for i in torch.randperm(len(candidates), generator=generator).tolist():
        ids = model.tokenizer.encode(candidates[i][0])
        if 0 < len(ids) <= room:
            selected.append((candidates[i], ids))
            if len(selected) == n:
                break
    if not selected:
        raise DataError(f"no pystdlib prompt fits the context of {model.config.block_size} tokens with "
                        f"max_new_tokens={max_new_tokens}; lower max_new_tokens")
    return selected


def sample_completions(model, prompt_ids: list[int], k: int, generator: torch.Generator, **generate_kw) -> list[str]:
    """K sampled continuations of one prompt, decoded up to the first EOS."""
    tok = model.tokenizer
    ids = torch.tensor([prompt_ids] * k, dtype=torch.long)
    out = model.generate(ids, do_sample=True, generator=generator, **generate_kw)[:, len(prompt_ids):].tolist()
    eos = set(model.generation_config.eos_ids or [tok.eos_token_id])
    texts = []
    for row in out:
        cut = next((i for i, t in enumerate(row) if t in eos), len(row))
        texts.append(tok.decode(row[:cut], skip_special_tokens=True))
    return texts


def make_prefs(run, reward: str = "python-syntax", *, prompts: int = 64, k: int = 4, out="prefs.jsonl", seed: int = 0,
               max_new_tokens: int = 64, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
               overwrite: bool = False, progress: bool = True) -> dict[str, Any]:
    """Sample, score and pair (see the module docstring); returns counts (``pairs``, ``ties``, ...)."""
    import genzoo as gz
    from ..training.logging import progress_bar

    for name, value, least in (("--prompts", prompts, 1), ("--k", k, 2), ("--max-new-tokens", max_new_tokens, 1)):
        if not isinstance(value, int) or value < least:
            raise ConfigError(f"{name} must be an integer >= {least}, got {value!r}")
    if not temperature > 0:
        raise ConfigError(f"--temperature must be > 0, got {temperature}")
    out = Path(out)
    if out.exists() and not overwrite:
        raise ConfigError(f"{out} exists; pass --overwrite to replace it, or another --out")
    reward_fn = get_reward(reward)
    model = gz.load(run)
    tok = getattr(model, "tokenizer", None)
    if tok is None or not hasattr(model, "generate") or not hasattr(model.config, "block_size"):
        raise ConfigError(f"{run} is not a text model with a tokenizer; prefs make samples from a GPT")
    generator = torch.Generator().manual_seed(seed)
    selected = select_prompts(model, reward, prompts, max_new_tokens, generator)
    pairs, counts = [], {"prompts": len(selected), "completions": 0, "pairs": 0, "ties": 0, "empty": 0,
                         "reward_failures": 0, "mean_reward": 0.0}
    first_error = None
    bar = progress_bar(len(selected), 0, progress)
    for (prompt, module), ids in selected:
        completions = sample_completions(model, ids, k, generator, max_new_tokens=max_new_tokens, temperature=temperature,
                                   top_k=top_k, top_p=top_p)
        scores = score_completions(reward_fn, [prompt] * k, completions, reward, strict=False, modules=[module] * k)
        counts["completions"] += k
        counts["reward_failures"] += scores.failed
        counts["mean_reward"] += float(scores.values.sum())
        first_error = first_error or scores.first_error
        usable = [i for i, c in enumerate(completions) if c.strip()]
        counts["empty"] += k - len(usable)
        if bar is not None:
            bar.update(1)
        if len(usable) < 2:
            continue
        best = max(usable, key=lambda i: float(scores.values[i]))
        worst = min(usable, key=lambda i: float(scores.values[i]))
        if scores.values[best] == scores.values[worst]:
            counts["ties"] += 1
            continue
        pairs.append(PreferencePair(prompt, completions[best], completions[worst], extra={
            "score_chosen": float(scores.values[best]), "score_rejected": float(scores.values[worst])}))
    if bar is not None:
        bar.close()
    if counts["reward_failures"] == counts["completions"]:
        raise DataError(f"reward {reward!r} failed on all {counts['completions']} samples (first: {first_error}); "
                        f"nothing written")
    counts["mean_reward"] /= counts["completions"]
    if not pairs:
        raise DataError(f"no pairs: the completions of every prompt scored the same ({counts['ties']} ties, "
                        f"{counts['empty']} empty completions); raise --k or --temperature; nothing written")
    write_prefs(out, pairs, overwrite=overwrite)
    counts["pairs"] = len(pairs)
    return counts
