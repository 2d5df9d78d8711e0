"""``pipeline("text-generation", model=DIR)``: prompt strings in, ``[{"generated_text": ...}]`` out.

Mirrors transformers' TextGenerationPipeline: a string gives a list of ``num_return_sequences``
dicts, a list of strings gives one such list per prompt (prompts are batched with left padding).
``return_full_text=False`` returns only the continuation. Other keywords go to ``generate``
(``max_new_tokens``, ``do_sample``, ``temperature``, ``top_k``, ``top_p``, ``repetition_penalty``,
``stop_strings``, ``num_return_sequences``, ``generator``, ``streamer``).
``guard=`` (a ``genzoo.safety.guardrails.Guard`` or its spec string, e.g. ``"pii,denylist=words.txt"``)
checks each prompt (redacted before generation; a blocked prompt is not generated from) and each
continuation; every result dict then carries ``"guard"``: the findings' summary, and ``"blocked"``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError, DataError


def _load_model(model, device):
    if isinstance(model, (str, Path)):
        from ..api import load  # genzoo runs and transformers GPT-2 directories alike

        loaded = load(model, device=device)
        if getattr(loaded, "tokenizer", None) is None:
            from ..cli.runs import _tokenizer_of  # a run trained by `genzoo train` names its dataset

            tok = _tokenizer_of(loaded, Path(model))
            if tok is not None:
                loaded.set_tokenizer(tok)
        return loaded
    return model


class TextGenerationPipeline:
    def __init__(self, model, tokenizer=None, device: str | torch.device = "cpu"):
        self.model = _load_model(model, device).eval()
        if not hasattr(self.model, "generate"):
            raise ConfigError(f"{type(self.model).__name__} is not a text model; text-generation needs a 'gpt' model")
        if tokenizer is not None:
            self.model.set_tokenizer(tokenizer)
        self.tokenizer = getattr(self.model, "tokenizer", None)
        if self.tokenizer is None:
            raise ConfigError("the model has no tokenizer.json; pass tokenizer= or save the model with its tokenizer")
        vocab = self.tokenizer.vocab_size
        if vocab > self.model.config.vocab_size:
            raise ConfigError(f"the tokenizer has {vocab} tokens but the model's vocab_size is {self.model.config.vocab_size}; use the model's own tokenizer")

    def _encode(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = [self.tokenizer.encode(p) for p in prompts]
        for p, row in zip(prompts, ids):
            if not row:
                raise DataError(f"prompt {p!r} encodes to no tokens; give a non-empty prompt")
        width = max(len(r) for r in ids)
        pad = getattr(self.tokenizer, "pad_token_id", None) or 0
        device = next(self.model.parameters()).device
        input_ids = torch.full((len(ids), width), pad, dtype=torch.long, device=device)
        mask = torch.zeros((len(ids), width), dtype=torch.long, device=device)
        for i, row in enumerate(ids):  # left padding
            input_ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row):] = 1
        return input_ids, mask

    def __call__(self, prompts: str | list[str], *, return_full_text: bool = True, guard=None, **kw: Any):
        single = isinstance(prompts, str)
        batch = [prompts] if single else list(prompts)
        if not batch or not all(isinstance(p, str) for p in batch):
            raise DataError("text-generation takes a prompt string or a non-empty list of strings")
        if guard is not None:
            from ..safety.guardrails import guarded_generation

            return guarded_generation(self, batch, single, guard, return_full_text=return_full_text, **kw)
        input_ids, mask = self._encode(batch)
        out = self.model.generate(input_ids, mask, tokenizer=self.tokenizer, **kw)
        n = out.shape[0] // len(batch)
        width = input_ids.shape[1]
        results = []
        for i, prompt in enumerate(batch):
            rows = []
            for j in range(n):
                new = out[i * n + j, width:].tolist()
                text = self.tokenizer.decode(_strip_after_eos(new, self.model.generation_config.eos_ids), skip_special_tokens=True)
                rows.append({"generated_text": prompt + text if return_full_text else text})
            results.append(rows)
        return results[0] if single else results


def _strip_after_eos(ids: list[int], eos: list[int]) -> list[int]:
    for k, t in enumerate(ids):
        if t in eos:
            return ids[:k]
    return ids
