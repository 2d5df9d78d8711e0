"""Tiny random-weight models shared by the finetune tests."""
import torch
from cli_run import run_cli

from genzoo.models.gpt import GPT, GPTConfig

__all__ = ["run_cli", "tiny_gpt", "char_gpt_dir", "randomize_adapters", "ids", "space_share", "mean_code_point",
           "always_nan", "some_fail"]  # run_cli re-exported from tests/cli/cli_run.py for older imports


def tiny_gpt(seed: int = 0, **kw) -> GPT:
    torch.manual_seed(seed)
    cfg = dict(vocab_size=32, block_size=16, n_layer=2, n_head=2, n_embd=16)
    cfg.update(kw)
    model = GPT(GPTConfig(**cfg)).eval()
    with torch.no_grad():  # non-trivial biases and norms, so a wrong transpose or scale shows
        for name, p in model.named_parameters():
            if name.endswith("bias") or "ln" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model


CODE_CHARS = ("def return pass if else while for in not and or ():,.+-*/=<>[]'\"0123456789\n "
              "abcdefghijklmnopqrstuvwxyz_ABCDEFGHIJKLMNOPQRSTUVWXYZ#@!?{}|;%&^~`$\\")


def char_gpt_dir(root, block_size: int):
    """A saved 1-layer char GPT (its tokenizer knows Python's characters) in ``root/base``."""
    from genzoo.data.tokenizers import Tokenizer

    tok = Tokenizer.train_char(CODE_CHARS)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=block_size, n_layer=1, n_head=2, n_embd=16))
    model.set_tokenizer(tok)
    model.save_pretrained(root / "base")
    return root / "base"


def randomize_adapters(model, seed: int = 1, scale: float = 0.3) -> None:
    """Stand-in for training: every trainable (adapter) tensor gets random values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(scale * torch.randn(p.shape, generator=g))


def ids(batch: int = 2, length: int = 12, vocab: int = 32, seed: int = 3) -> torch.Tensor:
    return torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(seed))


def space_share(prompts, completions, **columns):
    """A reward plug-in for tests (``--reward finetune_helpers:space_share``): the share of spaces."""
    return [c.count(" ") / max(1, len(c)) for c in completions]


def mean_code_point(prompts, completions, **columns):
    """A reward plug-in that (almost) never ties: the mean code point of the completion / 128."""
    return [sum(map(ord, c)) / max(1, len(c)) / 128 for c in completions]


def always_nan(prompts, completions, **columns):
    return [float("nan")] * len(completions)


def some_fail(prompts, completions, **columns):
    """Raises on a batch, so each sample is scored alone: NaN (a failure) when its code-point sum is odd."""
    if len(completions) > 1:
        raise ValueError("scored one by one")
    return [float("nan") if sum(map(ord, completions[0])) % 2 else 1.0]
