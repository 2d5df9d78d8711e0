"""Canary exposure (Secret Sharer): insertion, exact rank vs brute force, extrapolation, a memorised canary."""
import math
import random

import numpy as np
import pytest
import torch

import genzoo as gz
from genzoo.data.loading import load_split_like
from genzoo.errors import ConfigError
from genzoo.privacy.canaries import (PREFIX, exposure, exposure_exact, exposure_extrapolated, insert_canaries,
                                     make_canaries, parse_counts)


def toy_scorer(digits):
    """Px = a fixed pseudo-random value per candidate (a 'model' with arbitrary preferences)."""
    values = np.random.default_rng(1).normal(size=10 ** digits)
    return lambda texts: np.array([values[int(t[len(PREFIX):])] for t in texts])


def test_make_and_insert():
    canaries = make_canaries("1,10,3", digits=6, seed=0)
    assert [c["count"] for c in canaries] == [1, 10, 3, 0] and len({c["secret"] for c in canaries}) == 4
    assert canaries == make_canaries([1, 10, 3], digits=6, seed=0) != make_canaries([1, 10, 3], seed=1)
    text = "".join(f"line {i}\n" for i in range(50))
    out = insert_canaries(text, canaries, seed=0)
    for c in canaries:
        assert out.count(c["text"] + "\n") == c["count"]
    assert [ln for ln in out.splitlines() if not ln.startswith(PREFIX)] == text.splitlines()


def test_exact_rank_matches_brute_force():
    score = toy_scorer(3)
    all_px = score([PREFIX + f"{s:03d}" for s in range(1000)])
    for secret in (0, 17, 512, int(np.argmin(all_px))):
        rank = 1 + int((all_px < all_px[secret]).sum())
        got = exposure_exact(score, PREFIX + f"{secret:03d}", 3, batch=64)
        assert got == pytest.approx(math.log2(1000) - math.log2(rank))
    assert exposure_exact(score, PREFIX + f"{int(np.argmin(all_px)):03d}", 3) == pytest.approx(math.log2(1000))
    flat = exposure_exact(lambda t: np.zeros(len(t)), PREFIX + "005", 3)  # all tied: the middle rank
    assert flat == pytest.approx(math.log2(1000) - math.log2(500.5))


def test_extrapolation_agrees_with_exact():
    score = toy_scorer(4)
    all_px = score([PREFIX + f"{s:04d}" for s in range(10_000)])
    for rank, tolerance in ((20, 1.0), (200, 0.3), (5000, 0.3)):  # the fitted tail is the least sure
        secret = int(np.argsort(all_px)[rank])
        canary = {"text": PREFIX + f"{secret:04d}", "secret": f"{secret:04d}"}
        exact = exposure(score, canary)  # auto: exact for 10^4 candidates
        assert exact == pytest.approx(math.log2(10_000) - math.log2(rank + 1))
        assert exposure_extrapolated(score, canary["text"], 4, samples=3000) == pytest.approx(exact, abs=tolerance)


def test_memorised_canary_is_exposed(tmp_path):
    rng = random.Random(0)
    path = tmp_path / "corpus.txt"
    path.write_text("".join(f"item {rng.randrange(10**4):04d} costs {rng.randrange(100)}\n" for _ in range(300)))
    data = gz.load_dataset(f"text:{path}", canaries="50", canary_digits=4, block_size=32)
    assert [c["count"] for c in data.info["canaries"]] == [50, 0]
    torch.manual_seed(0)
    model = gz.build("gpt", data, n_layer=1, n_head=2, n_embd=48)
    gz.Trainer(model, data, steps=300, batch_size=32, lr=3e-3, seed=0, progress=False).fit()
    test = gz.load_dataset(f"text:{path}", split="test", canaries="50", canary_digits=4, block_size=32)
    assert torch.equal(load_split_like(test, "train").x, data.x)  # what mia / extraction read as members
    out = gz.evaluate(model, test, metrics=["exposure"])
    assert out["exposure_max"] == pytest.approx(math.log2(10**4))
    assert out["exposure_k50"] > out["exposure_max"] - 1  # rank 1 or 2 of 10^4
    # a never-inserted secret: ≈ log2|R| − log2(|R|/2) = 1 on average; this control (5537) shares its first
    # digit with the canary (5346), and the model ranks every 5xxx high: still far below the canary
    assert out["exposure_control"] < out["exposure_max"] / 2


def test_errors(tmp_path):
    for bad, message in ((0, "positive"), ("1,-2", "positive"), ("a,b", "insertion counts"), ("3,3", "repeats")):
        with pytest.raises(ConfigError, match=message):
            parse_counts(bad)
    with pytest.raises(ConfigError, match="canary_digits"):
        make_canaries([1], digits=0)
    with pytest.raises(ConfigError, match="unknown exposure method"):
        exposure(toy_scorer(2), {"text": PREFIX + "01", "secret": "01"}, method="guess")
    path = tmp_path / "t.txt"
    path.write_text("hello world 0123456789\n" * 20)
    data = gz.load_dataset(f"text:{path}", block_size=8)
    with pytest.raises(ConfigError, match="exposure needs the run's canaries"):
        gz.evaluate(gz.build("gpt", data, n_layer=1, n_head=1, n_embd=8), data, metrics=["exposure"])
    with pytest.raises(ConfigError, match="positive"):
        gz.load_dataset(f"text:{path}", canaries="0")


def test_cli_train_with_canaries_and_dedup_then_eval_exposure(tmp_path, capsys):
    import json

    from genzoo.cli.main import main

    path = tmp_path / "c.txt"
    path.write_text(("\n\n".join(f"block {i} " + "0123456789 " * 6 for i in range(12)) + "\n\n") * 2)
    out, data = tmp_path / "run", f"text:{path}"
    main(["train", "gpt", "--data", data, "--data-arg", "canaries=2,5", "--data-arg", "canary_digits=2",
          "--data-arg", "dedup=exact", "--data-arg", "block_size=32", "--set", "n_layer=1", "--set", "n_head=1",
          "--set", "n_embd=16", "--steps", "2", "--batch-size", "4", "--out", str(out), "--no-progress"])
    assert json.loads((out / "run.json").read_text())["curation"]["exact_duplicates"] == 12
    assert [c["count"] for c in json.loads((out / "canaries.json").read_text())] == [2, 5, 0]
    capsys.readouterr()
    main(["eval", str(out), "--data", data, "--metrics", "exposure,mia", "--json"])
    result = json.loads(capsys.readouterr().out)  # MIA side by side, its members read with the canaries
    assert set(result) >= {"exposure_k2", "exposure_k5", "exposure_control", "mia_loss_auc"} and result["exposure_max"] == pytest.approx(math.log2(100))
    (out / "canaries.json").unlink()
    other = tmp_path / "other.txt"
    other.write_text(path.read_text())  # another --data: the run's --data-arg options are not reused
    with pytest.raises(SystemExit) as info:
        main(["eval", str(out), "--data", f"text:{other}", "--metrics", "exposure"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert info.value.code == 2 and len(err) == 1 and "exposure needs the run's canaries" in err[0]


def test_the_tokenizer_never_sees_the_secrets(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("".join(f"row {i} of a small corpus\n" for i in range(200)))
    a, b = (gz.load_dataset(f"text:{path}", tokenizer="bpe", vocab_size=300, canaries="30", canary_digits=4,
                            canary_seed=s, block_size=16) for s in (0, 1))
    texts = [c["text"] for c in a.info["canaries"] + b.info["canaries"]]
    assert a.tokenizer.encode_batch(texts) == b.tokenizer.encode_batch(texts)  # the same whatever the secrets
