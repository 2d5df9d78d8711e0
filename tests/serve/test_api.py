"""genzoo serve's HTTP API (FastAPI TestClient): generation, arena votes, leaderboard, and refusals."""
from __future__ import annotations

import base64
import io
import json
import random
import sqlite3

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from genzoo.metrics.pairwise import rate, read_judgements  # noqa: E402
from genzoo.serve.app import create_app  # noqa: E402
from genzoo.serve.votes import VoteStore  # noqa: E402
from serve_helpers import make_runs, session  # noqa: E402
from cli_run import run_cli  # noqa: E402  (tests/cli, on sys.path via tests/conftest.py)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return make_runs(tmp_path_factory.mktemp("serve") / "runs")


@pytest.fixture()
def client(runs):
    for suffix in ("", "-wal", "-shm"):  # a fresh vote store for each test
        (runs / f"votes.sqlite{suffix}").unlink(missing_ok=True)
    with TestClient(create_app(runs, bootstrap=50)) as c:
        yield c


def events(body: str) -> list[tuple[str, dict]]:
    out = []
    for chunk in body.strip().split("\n\n"):
        kind, data = chunk.split("\n")
        out.append((kind.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


def test_models_listed_by_name_with_kind(client):
    found = {m["name"]: m["kind"] for m in client.get("/api/models").json()["models"]}
    assert found == {"gpt-a": "text", "gpt-b": "text", "more/gpt-c": "text", "mix": "image",
                     "audio/wavenet": "audio", "audio/diffusion": "audio"}


def test_text_streams_tokens_and_matches_genzoo_generate(client, runs, capsys):
    body = {"model": "gpt-a", "prompt": "def ", "max_new_tokens": 12, "seed": 3, "temperature": 0.9}
    r = client.post("/api/generate/text", json=body, headers=session(client))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    evs = events(r.text)
    tokens = [d["token"] for k, d in evs if k == "token"]
    assert len(tokens) >= 2 and evs[-1][0] == "done" and "".join(tokens) == evs[-1][1]["text"]
    code, out, _ = run_cli(["generate", runs / "gpt-a", "def ", "--max-new-tokens", "12", "--seed", "3",
                            "--temperature", "0.9"], capsys)
    assert code == 0 and out.rstrip("\n") == "def " + evs[-1][1]["text"]  # same seed, same text as the CLI


def test_watermark_on_is_detected_off_is_not(client):
    h = session(client)
    base = {"model": "gpt-b", "prompt": "def ", "max_new_tokens": 60, "seed": 0}
    marked = events(client.post("/api/generate/text", json={**base, "watermark_key": 7, "watermark_delta": 8.0},
                                headers=h).text)[-1][1]
    assert marked["watermark"]["z"] > 4 and marked["watermark"]["watermarked"]
    plain = events(client.post("/api/generate/text", json=base, headers=h).text)[-1][1]
    assert plain["watermark"] is None and plain["text"] != marked["text"]


def test_image_png_same_seed_same_bytes(client):
    h = session(client)
    a = client.post("/api/generate/image", json={"model": "mix", "n": 40, "seed": 1}, headers=h)
    b = client.post("/api/generate/image", json={"model": "mix", "n": 40, "seed": 1}, headers=h)
    assert a.status_code == 200 and a.content[:8] == b"\x89PNG\r\n\x1a\n" and a.content == b.content
    r = client.post("/api/generate/image", json={"model": "mix", "sampler": "ddim"}, headers=h)
    assert r.status_code == 400 and "sampler" in r.json()["error"]


def _wav(data: bytes, clips: int):
    """The WAV's sample rate and length, after checking it is ``clips`` tiny clips (200 samples) at 8 kHz."""
    sf = pytest.importorskip("soundfile")
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    info = sf.info(io.BytesIO(data))
    assert (info.samplerate, info.channels, info.subtype) == (8000, 1, "PCM_16")
    assert info.frames == clips * 200 + (clips - 1) * 800  # clips joined by 0.1 s of silence (write_wav)


def test_audio_playground_returns_a_wav_same_seed_same_bytes(client):
    h = session(client)
    for model in ("audio/wavenet", "audio/diffusion"):
        a = client.post("/api/generate/media", json={"model": model, "n": 2, "seed": 1}, headers=h)
        assert a.status_code == 200 and a.headers["content-type"] == "audio/wav", a.text
        _wav(a.content, clips=2)
        b = client.post("/api/generate/media", json={"model": model, "n": 2, "seed": 1}, headers=h)
        c = client.post("/api/generate/media", json={"model": model, "n": 2, "seed": 2}, headers=h)
        assert a.content == b.content != c.content
    r = client.post("/api/generate/media", json={"model": "gpt-a"}, headers=h)
    assert r.status_code == 400 and "text model" in r.json()["error"]


def test_audio_arena_battles_audio_models_only(client):
    h = session(client)
    b = client.post("/api/arena/battle", json={"kind": "audio", "n": 1, "seed": 0}, headers=h).json()
    assert b["kind"] == "audio" and set(b) == {"battle", "kind", "a", "b"}
    for side in "ab":
        head, _, payload = b[side].partition(",")
        assert head == "data:audio/wav;base64"
        _wav(base64.b64decode(payload), clips=1)
    v = client.post("/api/arena/vote", json={"battle": b["battle"], "vote": "b"}, headers=h).json()
    assert {v["model_a"], v["model_b"]} == {"audio/wavenet", "audio/diffusion"} and v["outcome"] == "b"
    assert client.get("/api/leaderboard").json()["votes"] == 1


def test_arena_blind_then_revealed_votes_feed_leaderboard_and_eval(client, runs, capsys):
    h = session(client)
    seen = []
    for i in range(9):
        b = client.post("/api/arena/battle", json={"prompt": "def ", "seed": i, "max_new_tokens": 4}, headers=h).json()
        assert set(b) == {"battle", "kind", "a", "b"}  # no model names before the vote
        v = client.post("/api/arena/vote", json={"battle": b["battle"], "vote": "a" if i % 3 else "tie"}, headers=h).json()
        seen.append(tuple(sorted((v["model_a"], v["model_b"]))))
    assert {p: seen.count(p) for p in set(seen)} == {("gpt-a", "gpt-b"): 3, ("gpt-a", "more/gpt-c"): 3,
                                                      ("gpt-b", "more/gpt-c"): 3}  # balanced pairs
    again = client.post("/api/arena/vote", json={"battle": b["battle"], "vote": "b"}, headers=h).json()
    assert again["already_recorded"] and again["outcome"] == "a"  # a retried vote is not counted twice
    board = client.get("/api/leaderboard").json()
    assert board.get("votes") == 9 and sum(r["votes"] for r in board["rows"]) == 18
    expected = rate(read_judgements(runs / "votes.sqlite"), bootstrap=50)
    assert [r["model"] for r in board["rows"]] == [r["model"] for r in expected]
    assert board["rows"][0]["bt_low"] <= board["rows"][0]["bt_rating"] <= board["rows"][0]["bt_high"]
    code, out, err = run_cli(["eval", "--metrics", "pairwise", "--votes", runs / "votes.sqlite", "--json"], capsys)
    assert code == 0, err
    rows = json.loads(out)["pairwise"]
    assert [r["model"] for r in rows] == [r["model"] for r in expected] and rows[0]["games"] == expected[0]["games"]


def test_store_schema_wal_and_one_row_per_battle(tmp_path):
    store = VoteStore(tmp_path / "v.sqlite")
    battle = store.new_battle("x", "y", "text", "p", 0)
    assert store.vote(battle, "both_bad", "s")["vote_id"] == store.vote(battle, "a", "s")["vote_id"]
    db = sqlite3.connect(tmp_path / "v.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
    assert db.execute("SELECT a, b, winner FROM judgements").fetchall() == [("x", "y", "tie")]  # both bad = tie
    assert store.draw_pair(["x", "y", "z"], random.Random(0)) in {("x", "z"), ("z", "x"), ("y", "z"), ("z", "y")}


@pytest.mark.parametrize("body, status, words", [
    ({"model": "../../etc/passwd", "prompt": "x"}, 404, "no model"),
    ({"model": "/etc/passwd", "prompt": "x"}, 404, "no model"),
    ({"model": "more/../gpt-a", "prompt": "x"}, 404, "no model"),
    ({"model": "nope", "prompt": "x"}, 404, "no model"),
    ({"model": "gpt-a", "prompt": "x" * 2001}, 422, "prompt"),
    ({"model": "gpt-a", "prompt": "x", "max_new_tokens": 10_000}, 422, "max_new_tokens"),
    ({"model": "gpt-a", "prompt": ""}, 400, "prompt"),
    ({"model": "gpt-a", "prompt": "x", "surprise": 1}, 422, "surprise"),
    ({"model": "mix", "prompt": "x"}, 400, "not a text model"),
    ({"model": "gpt-a", "prompt": "x" * 100, "max_new_tokens": 100}, 400, "context"),
])
def test_bad_requests_are_4xx_with_a_message(client, body, status, words):
    r = client.post("/api/generate/text", json=body, headers=session(client))
    assert r.status_code == status and words in r.json()["error"], r.text
    assert "Traceback" not in r.text


def test_caps_malformed_json_body_size_and_csrf(client):
    h = session(client)
    r = client.post("/api/generate/image", json={"model": "mix", "n": 100_000}, headers=h)
    assert r.status_code == 422 and "n:" in r.json()["error"]
    r = client.post("/api/generate/image", json={"model": "mix", "steps": 10_000}, headers=h)
    assert r.status_code == 422
    r = client.post("/api/arena/vote", content=b"{not json", headers={**h, "content-type": "application/json"})
    assert r.status_code == 400 and "malformed JSON" in r.json()["error"]
    r = client.post("/api/arena/vote", content=b"x" * 100_000, headers={**h, "content-type": "application/json"})
    assert r.status_code == 413
    r = client.post("/api/arena/vote", json={"battle": "nope", "vote": "a"}, headers=h)
    assert r.status_code == 404
    assert client.post("/api/arena/vote", json={"battle": "x", "vote": "a"}).status_code == 403  # no token
    r = client.post("/api/arena/vote", json={"battle": "x", "vote": "a"}, headers={**h, "Origin": "http://evil.test"})
    assert r.status_code == 403 and "cross-origin" in r.json()["error"]
    assert "samesite=strict" in client.get("/").headers["set-cookie"].lower()


def test_voting_token_required_when_set(runs):
    with TestClient(create_app(runs, vote_token="a-long-secret-token")) as c:
        h = session(c)
        assert c.post("/api/arena/vote", json={"battle": "x", "vote": "a"}, headers=h).status_code == 401
        r = c.post("/api/arena/vote", json={"battle": "x", "vote": "a"}, headers={**h, "X-Vote-Token": "a-long-secret-token"})
        assert r.status_code == 404  # past the token check


def test_cli_refuses_remote_without_flag(runs, capsys):
    code, _, err = run_cli(["serve", runs, "--host", "0.0.0.0"], capsys)
    assert code == 2 and "--allow-remote" in err and "Traceback" not in err
    code, _, err = run_cli(["serve", runs / "missing"], capsys)
    assert code == 2 and "not a directory" in err


def test_bench_report_embedded_and_one_image_model_cannot_battle(runs):
    bench = runs / "bench"
    bench.mkdir(exist_ok=True)
    (bench / "report.html").write_text("<html><body>bench table</body></html>")
    try:
        with TestClient(create_app(runs)) as c:
            assert c.get("/api/leaderboard").json()["bench"] == "/bench/report.html"
            assert "bench table" in c.get("/bench/report.html").text
            assert c.get("/bench/../votes.sqlite").status_code == 404
            r = c.post("/api/arena/battle", json={"kind": "image"}, headers=session(c))
            assert r.status_code == 400 and "two models" in r.json()["error"]
    finally:
        (bench / "report.html").unlink()
        bench.rmdir()


def test_video_runs_play_as_looping_gifs(tmp_path):
    import torch
    from PIL import Image

    from genzoo.models.video_diffusion import VideoDiffusion, VideoDiffusionConfig

    torch.manual_seed(0)
    config = VideoDiffusionConfig(shape=(4, 1, 8, 8), block_out_channels=(8, 16), norm_num_groups=4, attention_head_dim=8,
                                  num_train_timesteps=50, sample_steps=2)
    VideoDiffusion(config).save_pretrained(tmp_path / "clips")
    with TestClient(create_app(tmp_path, bootstrap=10)) as c:
        assert c.get("/api/models").json()["models"][0]["kind"] == "image"  # a GIF shows where a picture does
        r = c.post("/api/generate/media", json={"model": "clips", "n": 2, "seed": 0}, headers=session(c))
        assert r.status_code == 200 and r.headers["content-type"] == "image/gif", r.text
        gif = Image.open(io.BytesIO(r.content))
        assert gif.format == "GIF" and gif.n_frames == 4


def test_text_to_image_runs_take_a_prompt_and_other_models_refuse_one(client, tmp_path):
    import torch

    from genzoo.models.latent_diffusion import LatentDiffusion, LatentDiffusionConfig

    r = client.post("/api/generate/media", json={"model": "mix", "n": 2, "prompt": "a red circle"}, headers=session(client))
    assert r.status_code == 400 and "prompt" in r.json()["error"]
    torch.manual_seed(0)
    LatentDiffusion(LatentDiffusionConfig(shape=(3, 8, 8), latent_channels=4, ae_block_out_channels=(8, 8), ae_norm_num_groups=4,
                                          block_out_channels=(16, 16), attention_levels=(1,), attention_head_dim=8,
                                          caption_length=8, num_train_timesteps=50, sample_steps=2, scaling_factor=0.9,
                                          autoencoder_steps=2)).save_pretrained(tmp_path / "t2i")
    with TestClient(create_app(tmp_path, bootstrap=10)) as c:
        h = session(c)
        pictures = [c.post("/api/generate/media", json={"model": "t2i", "n": 2, "prompt": p, "guidance_scale": 3}, headers=h)
                    for p in ("a red circle", "a blue square", "a red circle")]
        assert all(r.status_code == 200 and r.headers["content-type"] == "image/png" for r in pictures), pictures[0].text
        assert pictures[0].content == pictures[2].content != pictures[1].content  # the prompt steers the sample
