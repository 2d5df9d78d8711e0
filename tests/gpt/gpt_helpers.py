"""Shared helpers for the GPT tests (a unique module name: tests/ has no packages)."""
import torch

from genzoo.models.gpt import GPT, GPTConfig

TEXT = "def add(a, b):\n    return a + b\n\nclass Point:\n    x = 0\n    y = 1\n"


def tiny_gpt(seed=0, **kw) -> GPT:
    torch.manual_seed(seed)
    cfg = dict(vocab_size=23, block_size=48, n_layer=2, n_head=2, n_embd=32)
    cfg.update(kw)
    return GPT(GPTConfig(**cfg)).eval()
