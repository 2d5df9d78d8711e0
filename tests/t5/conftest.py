import pytest
import torch

from genzoo.data.tokenizers import Tokenizer
from genzoo.models.t5 import T5, T5Config

TEXT = "def add(a, b):\n    return a + b\nReturn the sum of a and b.\n" * 3


@pytest.fixture
def char_t5():
    """A tiny random T5 with a character tokenizer (<|endoftext|> = EOS 0, <pad> = last id)."""
    tok = Tokenizer.train_char(TEXT)
    tok.hf.add_special_tokens(["<pad>"])
    tok = Tokenizer(tok.hf)
    torch.manual_seed(0)
    model = T5(T5Config(vocab_size=tok.vocab_size, d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
                        relative_attention_num_buckets=8, relative_attention_max_distance=16, pad_token_id=tok.pad_token_id,
                        eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id,
                        max_source_length=24, max_target_length=8)).eval()
    model.set_tokenizer(tok)
    return model
