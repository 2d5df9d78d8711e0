"""Preference data in TRL's JSONL layout, read, checked, written and tokenised for a GPT.

One JSON object per line (blank lines are skipped; other keys are kept aside, as TRL keeps extra columns):

- standard: ``{"prompt": "def f(x):\\n", "chosen": "    return x\\n", "rejected": "    return\\n"}``
- conversational: ``prompt`` a list of ``{"role", "content"}`` messages, ``chosen``/``rejected`` lists of
  assistant messages;
- implicit prompt (no ``prompt`` key): the prompt is the longest shared prefix of ``chosen`` and
  ``rejected`` (characters or messages; TRL's ``extract_prompt``).

genzoo's GPTs have no chat template, so conversations are flattened to text with a plain one: each
message is ``"{role}: {content}\\n"``; the prompt ends with the generation prompt ``"assistant: "``,
which the completion (whose first message must be the assistant's) then leaves out.

Tokenisation (``tokenize_pairs``): prompt and completion are encoded separately and concatenated,
``ids = prompt_ids + completion_ids + [EOS]``, as generation produces them; ``*_mask`` is 1 on the
completion tokens (EOS included) and 0 on the prompt and the right padding. A prompt with no room
left in the context is an error (with its line); a completion that overflows is cut to fit (counted
in ``info["truncated"]``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import ConfigError, DataError

GENERATION_PROMPT = "assistant: "


@dataclass
class PreferencePair:
    """One line of a preference file, as text (conversations already flattened)."""

    prompt: str
    chosen: str
    rejected: str
    line: int = 0  # 1-based line in the source file (0: made in memory)
    extra: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- reading
def read_prefs(path) -> list[PreferencePair]:
    """The pairs of a TRL-layout JSONL file; any problem is a one-line ``DataError`` naming its line."""
    from ..data.jsonl import jsonl_records

    path = Path(path)
    missing = f"preference file {str(path)!r} not found; pass --data PATH.jsonl (prompt, chosen, rejected per line)"
    pairs = [parse_record(record, f"{path} line {n}", n) for n, record in jsonl_records(path, missing)]
    if not pairs:
        raise DataError(f"{path} holds no preference pairs; each line needs prompt, chosen and rejected")
    return pairs


def parse_record(record: Any, where: str, line: int = 0) -> PreferencePair:
    """A ``PreferencePair`` from one decoded JSON line (``where`` prefixes error messages)."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object with prompt, chosen, rejected; got a {type(record).__name__}")
    for key in ("chosen", "rejected"):
        if key not in record:
            raise DataError(f"{where}: missing {key!r} (a preference line has prompt, chosen and rejected)")
    chosen, rejected = record["chosen"], record["rejected"]
    kinds = {_kind(record[k], k, where) for k in ("prompt", "chosen", "rejected") if k in record}
    if len(kinds) > 1:
        raise DataError(f"{where}: mixes text and message lists; use strings everywhere or messages everywhere")
    if "prompt" in record:
        prompt = record["prompt"]
    else:  # implicit prompt: the shared prefix (TRL's extract_prompt)
        i = next((i for i, (a, b) in enumerate(zip(chosen, rejected)) if a != b), min(len(chosen), len(rejected)))
        if isinstance(chosen, str) and 0 < i < len(chosen) and chosen[i - 1] == " ":
            i -= 1
        prompt, chosen, rejected = chosen[:i], chosen[i:], rejected[i:]
    if kinds == {"messages"}:
        for key, messages in (("chosen", chosen), ("rejected", rejected)):
            if not messages or messages[0]["role"] != "assistant":
                raise DataError(f"{where}: {key} is empty or does not start with an assistant message (it completes the prompt)")
        prompt = render_messages(prompt) + GENERATION_PROMPT
        chosen, rejected = (render_messages(m)[len(GENERATION_PROMPT):] for m in (chosen, rejected))
    for key, value in (("chosen", chosen), ("rejected", rejected)):
        if not value.strip():
            raise DataError(f"{where}: {key} is empty; every pair needs two non-empty completions")
    extra = {k: v for k, v in record.items() if k not in ("prompt", "chosen", "rejected")}
    return PreferencePair(prompt, chosen, rejected, line, extra)


def _kind(value: Any, key: str, where: str) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, list) and all(isinstance(m, dict) for m in value):
        for m in value:
            if not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
                raise DataError(f"{where}: every message in {key!r} needs string 'role' and 'content'")
        return "messages"
    raise DataError(f"{where}: {key!r} must be a string or a list of {{role, content}} messages, got {type(value).__name__}")


def render_messages(messages: list[dict[str, str]]) -> str:
    """The plain chat template: ``"{role}: {content}\\n"`` per message."""
    return "".join(f"{m['role']}: {m['content']}\n" for m in messages)


# ----------------------------------------------------------------------------- writing
def write_prefs(path, pairs, overwrite: bool = False) -> Path:
    """Write pairs (``PreferencePair`` or dicts) as standard TRL JSONL, atomically (temp file + rename)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise ConfigError(f"{path} exists; pass --overwrite to replace it, or another --out")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        for p in pairs:
            record = p if isinstance(p, dict) else {"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected, **p.extra}
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


# ----------------------------------------------------------------------------- tokenising
class PreferenceData:
    """Tokenised pairs for the Trainer: ``len``, ``batch(index) -> dict`` of tensors, ``kind="text"``.

    A batch holds ``chosen_ids``/``rejected_ids`` (B, T) (right-padded, trimmed to the batch's longest
    row), ``chosen_mask``/``rejected_mask`` (completion tokens), ``*_length`` (real tokens per row),
    ``prompt_length``; and ``ref_chosen_logps``/``ref_rejected_logps`` once ``set_reference`` was called.
    """

    kind = "text"

    def __init__(self, name: str, tensors: dict[str, Tensor], tokenizer, pairs: list[PreferencePair], info: dict):
        self.name, self.tensors, self.tokenizer, self.pairs, self.info = name, tensors, tokenizer, pairs, info

    def __len__(self) -> int:
        return len(self.tensors["prompt_length"])

    def __repr__(self) -> str:
        return f"PreferenceData({self.name!r}, n={len(self)})"

    def batch(self, index: Tensor) -> dict[str, Tensor]:
        out = {k: v[index] for k, v in self.tensors.items()}
        width = int(torch.maximum(out["chosen_length"], out["rejected_length"]).max())
        for k in ("chosen_ids", "chosen_mask", "rejected_ids", "rejected_mask"):
            out[k] = out[k][:, :width]
        return out

    def set_reference(self, chosen_logps: Tensor, rejected_logps: Tensor) -> None:
        """Store precomputed reference log-probs; every batch carries them from now on."""
        self.tensors["ref_chosen_logps"] = chosen_logps.detach().float().cpu()
        self.tensors["ref_rejected_logps"] = rejected_logps.detach().float().cpu()

    def subset(self, index: Tensor, name: str | None = None) -> "PreferenceData":
        keep = [self.pairs[int(i)] for i in index]
        return PreferenceData(name or self.name, {k: v[index] for k, v in self.tensors.items()}, self.tokenizer, keep,
                              dict(self.info, n=len(keep)))

    def split(self, held_out: float, generator: torch.Generator) -> tuple["PreferenceData", "PreferenceData"]:
        """(train, held-out) with a ``held_out`` fraction (at least one pair each) chosen by ``generator``."""
        if len(self) < 2:
            raise DataError(f"{self.name}: {len(self)} pair(s); holding some out needs at least 2")
        n_out = min(len(self) - 1, max(1, round(held_out * len(self))))
        perm = torch.randperm(len(self), generator=generator)
        return self.subset(perm[n_out:].sort().values), self.subset(perm[:n_out].sort().values, self.name + " (held out)")


def tokenize_pairs(pairs: list[PreferencePair], tokenizer, block_size: int, *, add_eos: bool = True,
                   name: str = "prefs") -> PreferenceData:
    """Encode ``prompt + completion (+ EOS)`` for both completions of every pair (see the module docstring)."""
    if tokenizer is None:
        raise ConfigError("the model has no tokenizer, so genzoo cannot tell how it reads text; train or save it with one")
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    rows, truncated = [], 0
    for i, p in enumerate(pairs):
        prompt = tokenizer.encode(p.prompt)
        if len(prompt) >= block_size:
            where = f"{name} line {p.line}" if p.line else f"{name} pair {i}"
            raise DataError(f"{where}: the prompt is {len(prompt)} tokens but the context is {block_size}; "
                            "shorten the prompt or use a model with a longer context")
        row = []
        for text in (p.chosen, p.rejected):
            completion = tokenizer.encode(text) + ([eos] if add_eos else [])
            room = block_size - len(prompt)
            truncated += len(completion) > room
            row.append((prompt + completion[:room], len(prompt)))
        rows.append(row)
    width = max(len(ids) for row in rows for ids, _ in row)
    tensors: dict[str, Tensor] = {"prompt_length": torch.tensor([row[0][1] for row in rows])}
    for j, key in enumerate(("chosen", "rejected")):
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros(len(rows), width)
        lengths = torch.zeros(len(rows), dtype=torch.long)
        for i, row in enumerate(rows):
            seq, n_prompt = row[j]
            ids[i, :len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[i, n_prompt:len(seq)] = 1.0
            lengths[i] = len(seq)
        tensors.update({f"{key}_ids": ids, f"{key}_mask": mask, f"{key}_length": lengths})
    return PreferenceData(name, tensors, tokenizer, list(pairs), {"n": len(rows), "truncated": truncated,
                                                                  "block_size": block_size, "add_eos": add_eos})


def load_prefs(path, model, *, add_eos: bool = True) -> PreferenceData:
    """``read_prefs`` + ``tokenize_pairs`` with ``model``'s tokenizer and context."""
    return tokenize_pairs(read_prefs(path), getattr(model, "tokenizer", None), model.config.block_size,
                          add_eos=add_eos, name=str(path))
