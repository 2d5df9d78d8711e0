"""What genzoo's language models (GPT, T5) keep beside their weights: the tokenizer (``tokenizer.json``)
and the decoding defaults (``generation_config.json``), and the ``format="hf"`` switch of
``save_pretrained`` that writes a transformers directory through the family's ``*_hf`` module."""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, ClassVar

from ..errors import ConfigError
from ..generation import GENERATION_CONFIG_NAME, GenerationConfig

TOKENIZER_NAME = "tokenizer.json"


def token_row_config(data) -> dict[str, Any]:
    """``vocab_size`` and ``block_size`` of a text dataset (rows of token ids), as config values."""
    values: dict[str, Any] = {}
    if data is not None:
        if data.vocab_size is not None:
            values["vocab_size"] = data.vocab_size
        if data.shape:
            values["block_size"] = int(data.shape[0])
    return values


class LanguageModelFiles:
    """Mixin for a ``GenerativeModel`` with ``config.vocab_size``, ``tokenizer`` and ``generation_config``."""

    #: the module (relative to ``genzoo.models``) whose ``save_hf(model, path)`` writes the transformers layout
    hf_module: ClassVar[str] = ""

    def attach_data(self, data) -> None:
        """Keep the dataset's tokenizer (saved as tokenizer.json)."""
        tok = getattr(data, "tokenizer", None)
        if tok is not None:
            self.set_tokenizer(tok)

    def set_tokenizer(self, tokenizer) -> None:
        """Use ``tokenizer`` (it must fit the vocabulary); its EOS / pad ids fill unset generation defaults."""
        if tokenizer.vocab_size > self.config.vocab_size:
            raise ConfigError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model's vocab_size is {self.config.vocab_size}; "
                              "use the tokenizer the model was trained with")
        self.tokenizer = tokenizer
        eos = getattr(tokenizer, "eos_token_id", None)
        if self.generation_config.eos_token_id is None and eos is not None:
            self.generation_config.eos_token_id = eos
        if self.generation_config.pad_token_id is None and getattr(tokenizer, "pad_token_id", None) is not None:
            self.generation_config.pad_token_id = tokenizer.pad_token_id

    def save_extra(self, path) -> None:
        if self.tokenizer is not None:
            self.tokenizer.save(path)
        self.generation_config.save(path)

    def load_extra(self, path) -> None:
        path = Path(path)
        if (path / TOKENIZER_NAME).is_file():
            from ..data.tokenizers import Tokenizer

            self.set_tokenizer(Tokenizer.from_file(path / TOKENIZER_NAME))
        if (path / GENERATION_CONFIG_NAME).is_file():
            self.generation_config = GenerationConfig.from_file(path)

    def save_pretrained(self, path, format: str = "genzoo", **kw: Any) -> None:
        """``format="genzoo"`` (default) or ``format="hf"``: the transformers directory of the family."""
        if format == "hf":
            return importlib.import_module(self.hf_module, "genzoo.models").save_hf(self, path)
        if format != "genzoo":
            raise ConfigError(f"format must be 'genzoo' or 'hf', got {format!r}")
        return super().save_pretrained(path, **kw)
