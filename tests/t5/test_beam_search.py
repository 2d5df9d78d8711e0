"""Beam search (genzoo.beam_search) for GPT: token-identical to transformers, and right on a toy model."""
import pytest
import torch

import genzoo as gz
from genzoo.beam_search import beam_search
from genzoo.errors import ConfigError

transformers = pytest.importorskip("transformers")

SETTINGS = [dict(num_beams=3, length_penalty=0.6, early_stopping=True, num_return_sequences=2),
            dict(num_beams=3, length_penalty=1.5, early_stopping=False, num_return_sequences=2),
            dict(num_beams=3, length_penalty=1.5, early_stopping="never"),
            dict(num_beams=3, length_penalty=1.0, use_cache=False),
            dict(num_beams=2, min_new_tokens=4)]


@pytest.fixture(scope="module")
def gpt_pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("gpt2")
    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=50, n_positions=64, n_embd=32, n_layer=2, n_head=2,
                                                              bos_token_id=0, eos_token_id=0)).eval()
    hf.save_pretrained(d)
    return hf, gz.load(d)


@pytest.mark.parametrize("kw", SETTINGS)
def test_gpt_beam_search_matches_transformers(gpt_pair, kw):
    hf, ours = gpt_pair
    ids = torch.randint(0, 50, (2, 5), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, :2] = 0  # left padding
    with torch.no_grad():
        eos = int(hf.generate(ids, attention_mask=mask, max_new_tokens=8, do_sample=False, pad_token_id=0)[0, 8])
        want = hf.generate(ids, attention_mask=mask, max_new_tokens=10, do_sample=False, eos_token_id=eos, pad_token_id=0, **kw)
    got = ours.generate(ids, mask, max_new_tokens=10, eos_token_id=eos, pad_token_id=0, **kw)
    assert want.shape == got.shape and torch.equal(want, got)


def toy_step(seqs):
    """A Markov model over {0: EOS, 1, 2}: p(first) = (0, .6, .4); after 1: (.1, .45, .45); after 2: (.9, .05, .05)."""
    if seqs.shape[1] == 1:
        return torch.tensor([1e-9, 0.6, 0.4]).log().expand(len(seqs), 3)
    return torch.tensor([[1 / 3] * 3, [0.1, 0.45, 0.45], [0.9, 0.05, 0.05]]).log()[seqs[:, -1]]


@pytest.mark.parametrize("alpha, best, second", [(1.0, [1, 2, 0], [2, 0, 0]), (0.0, [2, 0, 0], [1, 2, 0])])
def test_beam_search_ranks_by_length_penalised_log_prob(alpha, best, second):
    """[2, EOS] has p = .36, [1, 2, EOS] p = .243: the likelier per token (α = 1) or in total (α = 0).
    Greedy never ends here (after 1, EOS has p .1)."""
    start = torch.full((2, 1), 2)  # one prompt, two beams; the start token is never read
    out = beam_search(toy_step, None, start, num_beams=2, max_new_tokens=6, eos_ids=[0], pad_id=0,
                      length_penalty=alpha, early_stopping=True, num_return_sequences=2)
    assert out[:, 1:].tolist() == [best, second]


def test_beam_options_are_checked(gpt_pair):
    _, ours = gpt_pair
    ids = torch.zeros(1, 3, dtype=torch.long)
    with pytest.raises(ConfigError, match="num_return_sequences"):
        ours.generate(ids, num_beams=2, num_return_sequences=3, max_new_tokens=2)
    with pytest.raises(ConfigError, match="beam sampling"):
        ours.generate(ids, num_beams=2, do_sample=True, max_new_tokens=2)
    with pytest.raises(ConfigError, match="early_stopping"):
        ours.generate(ids, num_beams=2, early_stopping="sometimes", max_new_tokens=2)
