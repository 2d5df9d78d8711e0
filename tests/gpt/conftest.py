import pytest
import torch
from gpt_helpers import TEXT

from genzoo.data.tokenizers import Tokenizer


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def char_tokenizer():
    return Tokenizer.train_char(TEXT)
