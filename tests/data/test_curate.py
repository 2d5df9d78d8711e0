"""genzoo.data.curate: exact and MinHash near-duplicate counts on corpora with known duplicates."""
import random

import pytest
import torch

import genzoo as gz
from genzoo.data.curate import curate_text, dedup, split_documents
from genzoo.errors import ConfigError, DataError


def corpus():
    """20 distinct documents, 5 exact copies (one with extra spaces), 4 near copies (one word changed)."""
    rng = random.Random(0)
    words = [f"w{i}" for i in range(400)]
    docs = [" ".join(rng.choices(words, k=60)) for _ in range(20)]
    exact = [docs[0], docs[1], docs[2], docs[3], docs[4].replace(" ", "   ", 3)]
    near = [d.replace(d.split()[30], "changed", 1) for d in docs[5:9]]
    return docs + exact + near


def test_exact_and_near_counts():
    texts = corpus()
    kept, report = dedup(texts, "exact")
    assert report == {"total": 29, "exact_duplicates": 5, "near_duplicates": 0, "kept": 24, "removed": 5}
    assert kept == list(range(20)) + list(range(25, 29))
    kept, report = dedup(texts, "minhash", threshold=0.8)
    assert report == {"total": 29, "exact_duplicates": 5, "near_duplicates": 4, "kept": 20, "removed": 9}
    assert kept == list(range(20))  # the first of each group is kept


def test_threshold_and_word_shingles():
    a = " ".join(f"token{i}" for i in range(100))
    b = a.replace("token50", "other").replace("token10", "other2").replace("token90", "x")  # J of 5-char shingles ≈ 0.91
    assert dedup([a, b], "minhash", threshold=0.7)[1]["near_duplicates"] == 1
    assert dedup([a, b], "minhash", threshold=0.95)[1]["near_duplicates"] == 0
    assert dedup([a, b], "minhash", threshold=0.7, shingle=3, unit="word")[1]["near_duplicates"] == 1


def test_images_exact_and_near():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 1, 16, 16, generator=g) * 2 - 1
    x[1] = x[0]
    x[2] = (x[0] + 0.01 * torch.randn(1, 16, 16, generator=g)).clamp(-1, 1)
    ds = gz.data.GenDataset("toy", "train", "image", x, levels=None)
    assert dedup(ds, "exact")[1]["exact_duplicates"] == 1
    kept, report = dedup(ds, "minhash")
    assert kept == [0, 3, 4, 5] and report["near_duplicates"] == 1
    assert dedup(list(x[:3]), "minhash")[0] == [0]  # a list of (C, H, W) images


def test_curate_text_scrub_then_dedup():
    docs = ["alice@example.com wrote " + "a long paragraph of text " * 3, "bob@example.com wrote " + "a long paragraph of text " * 3,
            "short", "short", "something else entirely, long enough to be counted as a document"]
    text = "\n\n".join(docs) + "\n"
    assert "".join(split_documents(text)) == text
    out, report = curate_text(text, dedup_method="exact", scrub=lambda s: s.replace("alice@example.com", "<EMAIL>")
                              .replace("bob@example.com", "<EMAIL>"))
    assert "@" not in out and out.count("<EMAIL>") == 1 and out.count("short") == 2  # short documents are kept
    assert report == {"documents": 5, "total": 3, "exact_duplicates": 1, "near_duplicates": 0, "kept": 2, "removed": 1}


def test_text_dataset_options(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("\n\n".join(corpus()) + "\n")
    ds = gz.load_dataset(f"text:{path}", dedup="minhash", scrub="string:capwords", block_size=16)
    assert ds.info["curation"]["removed"] == 9 and ds.tokenizer.decode(ds.info["tokens"])[:2] == "W3"
    plain = gz.load_dataset(f"text:{path}", block_size=16)
    assert "curation" not in plain.info and len(plain.info["tokens"]) > len(ds.info["tokens"])


def test_errors():
    with pytest.raises(ConfigError, match="unknown dedup method 'fuzzy'"):
        dedup(["a"], "fuzzy")
    with pytest.raises(ConfigError, match="threshold must be in"):
        dedup(["a"], "minhash", threshold=0)
    with pytest.raises(ConfigError, match="raise num_perm"):
        dedup(["a", "b"], "minhash", threshold=0.999)
    with pytest.raises(DataError, match="dedup takes"):
        dedup([1, 2], "exact")
    with pytest.raises(ConfigError, match="cannot import"):
        curate_text("x", scrub="nosuchmodule:f")
    with pytest.raises(ConfigError, match="not a callable"):
        curate_text("x", scrub="redact")
