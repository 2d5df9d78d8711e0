"""Frozen MiniLM token states as the cross-attention context of text-to-image models.

A prompt is tokenised with MiniLM's WordPiece tokenizer (``[CLS] pieces [SEP]``, padded with
``[PAD] = 0`` to a fixed ``length``, as Stable Diffusion pads CLIP tokens to 77); a prompt longer
than ``length`` keeps its first ``length - 1`` tokens and its ``[SEP]``, with a warning. The context
is BERT's last hidden states ``h_1..h_L`` (384-d, attention mask = non-pad tokens) of the frozen
all-MiniLM-L6-v2 that genzoo ships for FD-MiniLM (``features/text.py``). The empty prompt
``""`` (``[CLS] [SEP]``) is the unconditional context of classifier-free guidance.
"""
from __future__ import annotations

import functools
import warnings

import torch
from torch import Tensor

from ..errors import ConfigError

HIDDEN = 384  #: MiniLM's hidden size: the U-Net's cross_attention_dim
ENCODERS = ("minilm",)


def check_encoder(name: str) -> None:
    if name not in ENCODERS:
        raise ConfigError(f"unknown text_encoder {name!r}; genzoo ships: {', '.join(ENCODERS)}")


@functools.lru_cache(maxsize=1)
def _tokenizer():
    from tokenizers import Tokenizer

    from .text import minilm_dir

    tok = Tokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
    tok.no_padding()  # the shipped file pads to 128 and truncates; tokenize() does both itself
    tok.no_truncation()
    return tok


def tokenize(prompts, length: int) -> Tensor:
    """``(N, length)`` token ids of ``prompts`` (a string or a list), ``[PAD]``-padded; warns on truncation."""
    if isinstance(prompts, str):
        prompts = [prompts]
    if length < 2:
        raise ConfigError(f"caption_length={length} must be at least 2 ([CLS] and [SEP])")
    ids = torch.zeros(len(prompts), length, dtype=torch.long)
    long_ones = {}
    for i, enc in enumerate(_tokenizer().encode_batch([str(p) for p in prompts])):
        row = enc.ids
        if len(row) > length:
            long_ones[str(prompts[i])] = len(row)
            row = row[: length - 1] + row[-1:]
        ids[i, : len(row)] = torch.tensor(row)
    if long_ones:
        warnings.warn(f"genzoo: {len(long_ones)} prompt(s) of up to {max(long_ones.values())} tokens truncated to the "
                      f"text encoder's limit of {length} tokens", stacklevel=2)
    return ids


def empty_ids(length: int) -> Tensor:
    """The token ids of the empty prompt (the unconditional context)."""
    return tokenize([""], length)[0]


class TextContext:
    """``ids (N, L) -> (N, L, 384)`` frozen MiniLM states, cached per distinct token row (captions repeat).

    Not an ``nn.Module`` on purpose: the encoder is shared, frozen and never saved with a model."""

    def __init__(self, name: str = "minilm", cache_size: int = 4096):
        check_encoder(name)
        self.name, self.cache_size = name, cache_size
        self.cache: dict[bytes, Tensor] = {}

    @property
    def bert(self):
        from transformers.utils import logging

        from .text import shared_minilm

        if shared_minilm.cache_info().currsize:
            return shared_minilm().bert
        logging.disable_progress_bar()  # transformers' "Loading weights" bar on the first load
        try:
            return shared_minilm().bert
        finally:
            logging.enable_progress_bar()

    @torch.no_grad()
    def __call__(self, ids: Tensor) -> Tensor:
        ids = ids.long().cpu()
        keys = [row.numpy().tobytes() for row in ids]
        if len(self.cache) + len(keys) > self.cache_size:
            self.cache.clear()
        missing = sorted({k: i for i, k in enumerate(keys) if k not in self.cache}.values())
        if missing:
            sub = ids[missing]
            mask = (sub != 0).long()
            mask[:, 0] = 1
            states = self.bert(input_ids=sub, attention_mask=mask, token_type_ids=torch.zeros_like(sub)).last_hidden_state
            for j, i in enumerate(missing):
                self.cache[keys[i]] = states[j].float()
        return torch.stack([self.cache[k] for k in keys])
