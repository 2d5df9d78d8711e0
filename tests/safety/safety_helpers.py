"""Helpers shared by the safety CLI tests: run the CLI in-process; save a tiny char GPT."""
import torch

from genzoo.cli.main import main


def cli(args, capsys):
    """(exit code, stdout, stderr) of ``genzoo ARGS``."""
    try:
        main(args)
        code = 0
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def save_char_gpt(path, text: str, block_size: int):
    """A random 1-layer char GPT over ``text``'s characters that never stops at EOS, saved to ``path``."""
    from genzoo.data.tokenizers import Tokenizer
    from genzoo.models.gpt import GPT, GPTConfig

    tok = Tokenizer.train_char(text)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=block_size, n_layer=1, n_head=2, n_embd=32)).eval()
    model.set_tokenizer(tok)
    model.generation_config.eos_token_id = []  # a random model would end at EOS within a few tokens
    model.save_pretrained(path)
    return path
