"""A runs directory of tiny untrained models, made in seconds: for trying ``genzoo serve``, its tests
and benchmarks/serve_load.py. Three GPTs on one character tokenizer (gpt-a, gpt-b, more/gpt-c) and a
2-D Gaussian mixture (mix)."""
from __future__ import annotations

from pathlib import Path

TEXT = "def add(a, b):\n    return a + b\n\nclass Point:\n    x = 0\n    y = 1\n" * 40


def tiny_runs(root) -> Path:
    import torch

    import genzoo as gz
    from genzoo.data.tokenizers import Tokenizer
    from genzoo.models.gpt import GPT, GPTConfig

    root = Path(root)
    tok = Tokenizer.train_char(TEXT)
    for seed, name in ((0, "gpt-a"), (1, "gpt-b"), (2, "more/gpt-c")):
        torch.manual_seed(seed)
        model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=128, n_layer=1, n_head=2, n_embd=16))
        model.set_tokenizer(tok)
        model.generation_config = model.generation_config.update(eos_token_id=None)  # untrained: never stop early
        model.save_pretrained(root / name)
    torch.manual_seed(0)
    gz.build("gaussian", gz.load_dataset("8gaussians", "train"), n_components=8).save_pretrained(root / "mix")
    return root
