"""genzoo serve in a real browser: Playwright drives Debian's /usr/bin/chromium (no browser download)
against a uvicorn server on 127.0.0.1. Screenshots go to docs/serve/ (shown in the README) with GENZOO_UPDATE_SCREENSHOTS=1."""
from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):  # `make test` installs it (Makefile); skip only where it truly is absent
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)
pytest.importorskip("playwright")
uvicorn = pytest.importorskip("uvicorn")

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from genzoo.serve.app import create_app  # noqa: E402
from serve_helpers import make_runs  # noqa: E402

# screenshots refresh the README's pictures in docs/serve/ only when asked (GENZOO_UPDATE_SCREENSHOTS=1), so a
# test run leaves the checkout clean; otherwise they go to a temporary directory (still taken: the page rendered)
SHOTS = (Path(__file__).parents[2] / "docs" / "serve" if os.environ.get("GENZOO_UPDATE_SCREENSHOTS")
         else Path(tempfile.gettempdir()) / "genzoo-serve-screenshots")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    runs = make_runs(tmp_path_factory.mktemp("browser") / "runs")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(runs, bootstrap=50), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def page(server, tmp_path_factory):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS[1:], headless=True)
        context = browser.new_context(viewport={"width": 1200, "height": 800})
        pg = context.new_page()
        pg.set_default_timeout(20_000)
        expect.set_options(timeout=20_000)  # generation on a busy 2-core machine
        pg.goto(server)
        yield pg
        browser.close()


def test_playground_streams_text(page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.select_option("#pg-model", "gpt-a")
    page.fill("#pg-prompt", "def ")
    page.fill("#pg-max", "40")
    page.check("#pg-wm")
    page.click("#pg-go")
    expect(page.locator("#pg-output")).to_have_attribute("data-done", "1")
    assert len(page.locator("#pg-output").inner_text()) > 20
    expect(page.locator("#pg-wm-result")).to_contain_text("watermark detector: z =")
    expect(page.locator("#pg-download")).to_be_visible()
    page.screenshot(path=str(SHOTS / "playground.png"))


def test_arena_vote_reveals_names_and_leaderboard_changes(page):
    page.click("#tab-leaderboard")
    expect(page.locator("#lb-summary")).to_have_text("No votes yet.")
    page.click("#tab-arena")
    for choice in ("a", "a", "tie"):
        page.click("#ar-go")
        expect(page.locator("#vote-a")).to_be_enabled()
        assert page.locator("#ar-name-a").inner_text() == "Model A"  # anonymous before the vote
        page.click(f"#vote-{choice}")
        expect(page.locator("#ar-name-a")).to_have_text(re.compile(r"^A: (more/)?gpt-[abc]$"))
    page.screenshot(path=str(SHOTS / "arena.png"))
    page.click("#tab-leaderboard")
    expect(page.locator("#lb-summary")).to_have_text("3 votes")
    expect(page.locator("#lb-table tbody tr")).to_have_count(3)
    page.screenshot(path=str(SHOTS / "leaderboard.png"))


def test_audio_playground_and_arena_show_players(page):
    page.click("#tab-playground")
    page.select_option("#pg-model", "audio/wavenet")
    page.fill("#pg-n", "1")
    page.click("#pg-go")
    expect(page.locator("#pg-audio")).to_be_visible()
    assert page.locator("#pg-audio").get_attribute("src").startswith("blob:")
    # the browser loaded and decoded the WAV (not blocked by the page's Content-Security-Policy): 1 clip of 200 samples
    page.wait_for_function("Math.abs(document.getElementById('pg-audio').duration - 0.025) < 1e-3")
    expect(page.locator("#pg-download")).to_have_text("Download samples.wav")
    expect(page.locator("#pg-image")).to_be_hidden()
    page.click("#tab-arena")
    page.select_option("#ar-kind", "audio")
    page.click("#ar-go")
    expect(page.locator("#vote-a")).to_be_enabled()
    for side in "ab":  # two players side by side, each with its own WAV
        expect(page.locator(f"#ar-{side}-audio")).to_be_visible()
        assert page.locator(f"#ar-{side}-audio").get_attribute("src").startswith("data:audio/wav;base64,")
    expect(page.locator("#ar-out-a")).to_be_hidden()
