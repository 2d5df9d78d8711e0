"""``pipeline("text2text-generation" | "summarization", model=DIR)``: source strings in, generated text out.

As transformers' ``Text2TextGenerationPipeline`` / ``SummarizationPipeline``: a string gives a list of
``num_return_sequences`` dicts (``{"generated_text": ...}`` or ``{"summary_text": ...}``); a list of
strings gives one such list per input, flattened to one dict per input when each has one output.
Sources are right-padded into one batch; one longer than the encoder's context is truncated with a
warning (``T5.generate``). Other keywords go to ``generate`` (``max_new_tokens``, ``num_beams``,
``length_penalty``, ``early_stopping``, ``do_sample``, ``temperature``, ``generator`` ...).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError, DataError
from .text_generation import _load_model, _strip_after_eos


def is_seq2seq_dir(path) -> bool:
    """Whether ``path`` holds an encoder–decoder model (genzoo or transformers T5)."""
    try:
        return json.loads((Path(path) / "config.json").read_text()).get("model_type") == "t5"
    except (OSError, ValueError):
        return False


class Text2TextGenerationPipeline:
    output_key = "generated_text"
    task = "text2text-generation"

    def __init__(self, model, tokenizer=None, device: str | torch.device = "cpu"):
        self.model = _load_model(model, device).eval()
        if not hasattr(self.model, "encode"):
            raise ConfigError(f"{type(self.model).__name__} is not an encoder–decoder; {self.task} needs a 't5' model "
                              "(use pipeline('text-generation') for a GPT)")
        if tokenizer is not None:
            self.model.set_tokenizer(tokenizer)
        self.tokenizer = getattr(self.model, "tokenizer", None)
        if self.tokenizer is None:
            raise ConfigError("the model has no tokenizer.json; pass tokenizer= or save the model with its tokenizer")

    def _encode(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = [self.tokenizer.encode(t) for t in texts]
        for t, row in zip(texts, ids):
            if not row:
                raise DataError(f"input {t!r} encodes to no tokens; give a non-empty text")
        width = max(len(r) for r in ids)
        device = next(self.model.parameters()).device
        input_ids = torch.full((len(ids), width), self.model.config.pad_token_id, dtype=torch.long, device=device)
        mask = torch.zeros((len(ids), width), dtype=torch.long, device=device)
        for i, row in enumerate(ids):  # right padding (relative positions: padding side does not matter)
            input_ids[i, :len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, :len(row)] = 1
        return input_ids, mask

    def __call__(self, inputs: str | list[str], **kw: Any):
        single = isinstance(inputs, str)
        batch = [inputs] if single else list(inputs)
        if not batch or not all(isinstance(t, str) for t in batch):
            raise DataError(f"{self.task} takes a string or a non-empty list of strings")
        input_ids, mask = self._encode(batch)
        out = self.model.generate(input_ids, mask, **kw)
        n = out.shape[0] // len(batch)
        eos = self.model.generation_config.eos_ids
        results = [[{self.output_key: self.tokenizer.decode(_strip_after_eos(out[i * n + j, 1:].tolist(), eos),
                                                            skip_special_tokens=True)} for j in range(n)]
                   for i in range(len(batch))]
        if single:
            return results[0]
        return [r[0] for r in results] if n == 1 else results


class SummarizationPipeline(Text2TextGenerationPipeline):
    output_key = "summary_text"
    task = "summarization"
