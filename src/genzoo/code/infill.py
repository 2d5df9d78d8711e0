"""Fill in the middle with a FIM-trained causal LM (``genzoo.data.fim``): prefix + generated middle + suffix."""
from __future__ import annotations

import torch

from ..data.fim import fim_prompt
from ..errors import ConfigError


def infill(model, prefix: str, suffix: str, *, mode: str = "psm", max_new_tokens: int | None = None,
           generator: torch.Generator | None = None, **generate_kw) -> str:
    """The middle the model writes between ``prefix`` and ``suffix`` (up to its ``<|endoftext|>``)."""
    tok = getattr(model, "tokenizer", None)
    if tok is None:
        raise ConfigError("fill-in-the-middle needs a model saved with its tokenizer")
    ids = fim_prompt(tok, prefix, suffix, mode)
    context = model.config.block_size
    if len(ids) >= context:
        raise ConfigError(f"prefix + suffix take {len(ids)} tokens but the model's context is {context}; shorten them")
    room = context - len(ids)
    x = torch.tensor([ids], dtype=torch.long)
    with torch.inference_mode():
        out = model.generate(x, max_new_tokens=room if max_new_tokens is None else min(max_new_tokens, room),
                             generator=generator, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, **generate_kw)
    middle = out[0, len(ids):].tolist()
    if tok.eos_token_id in middle:
        middle = middle[: middle.index(tok.eos_token_id)]
    return tok.decode(middle, skip_special_tokens=True)
