"""Tiny runs for the web UI tests (trained in seconds), and a session with its CSRF token."""
from __future__ import annotations

from pathlib import Path

TEXT = "def add(a, b):\n    return a + b\n\nclass Point:\n    x = 0\n    y = 1\n" * 40


def make_runs(root: Path) -> Path:
    """RUNS_DIR with three tiny untrained GPTs (gpt-a, gpt-b, more/gpt-c; different seeds, so different
    texts) on one character tokenizer, and a 2-D Gaussian mixture (mix) sampled to a PNG."""
    import torch

    import genzoo as gz
    from genzoo.data.tokenizers import Tokenizer
    from genzoo.models.gpt import GPT, GPTConfig

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


def session(client) -> dict:
    """Headers of a browser session (the cookie stays in the client)."""
    token = client.get("/api/session").json()["csrf"]
    return {"X-CSRF-Token": token}
