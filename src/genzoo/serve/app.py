"""The FastAPI app of ``genzoo serve``: playground, arena and leaderboard over the runs in RUNS_DIR.

Pages are plain HTML/JS/CSS from ``genzoo/serve/static`` (nothing is fetched from elsewhere).
Every error is a 4xx JSON ``{"error": "one line"}``; an unexpected one is a 500 without traceback.
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal, Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from ..errors import GenzooError
from . import generate as textgen
from .models import ModelIndex, sample_media
from .security import SESSION_COOKIE, BodyLimit, csrf_token, new_session, post_allowed
from .votes import VoteStore

STATIC = Path(__file__).parent / "static"
LOG = logging.getLogger("genzoo.serve")
MAX_PROMPT, MAX_TOKENS, MAX_N, MAX_STEPS = 2000, 256, 64, 200


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextOptions(_Strict):
    prompt: str = Field("", max_length=MAX_PROMPT)
    max_new_tokens: int = Field(48, ge=1, le=MAX_TOKENS)
    temperature: float = Field(1.0, gt=0, le=5)
    top_k: Optional[int] = Field(None, ge=1, le=100_000)
    top_p: Optional[float] = Field(None, gt=0, le=1)
    greedy: bool = False
    seed: int = Field(0, ge=0, le=2**31 - 1)
    watermark_key: Optional[int] = Field(None, ge=0, le=2**62)
    watermark_gamma: float = Field(0.25, gt=0, lt=1)
    watermark_delta: float = Field(2.0, ge=0, le=20)


class TextRequest(TextOptions):
    model: str = Field(..., max_length=200)


class MediaRequest(_Strict):
    model: str = Field(..., max_length=200)
    n: int = Field(16, ge=1, le=MAX_N)
    steps: Optional[int] = Field(None, ge=1, le=MAX_STEPS)
    sampler: Optional[str] = Field(None, pattern=r"^[a-z0-9+_-]{1,24}$")
    guidance_scale: Optional[float] = Field(None, ge=0, le=50)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    prompt: Optional[str] = Field(None, max_length=MAX_PROMPT)  # text-to-image models (latent-diffusion)


class BattleRequest(TextOptions):
    kind: Literal["text", "image", "audio"] = "text"
    n: int = Field(16, ge=1, le=MAX_N)
    max_new_tokens: int = Field(32, ge=1, le=128)


class VoteRequest(_Strict):
    battle: str = Field(..., max_length=64)
    vote: Literal["a", "b", "tie", "both_bad"]


def create_app(runs_dir, *, vote_token: str | None = None, bootstrap: int = 200) -> FastAPI:
    """The app for RUNS_DIR; ``vote_token``: required on every POST (servers open beyond loopback)."""
    runs_dir = Path(runs_dir)
    index, store = ModelIndex(runs_dir), VoteStore(runs_dir / "votes.sqlite")
    rng, rng_lock = random.Random(), threading.Lock()
    vote_pool = ThreadPoolExecutor(4, thread_name_prefix="genzoo-votes")
    app = FastAPI(title="genzoo serve", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store, app.state.index = store, index
    board_cache: dict = {}

    def fail(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc):
        first = exc.errors()[0] if exc.errors() else {}
        if first.get("type") == "json_invalid":
            return fail(400, f"malformed JSON: {first.get('ctx', {}).get('error', 'cannot parse the body')}")
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return fail(422, f"{where + ': ' if where else ''}{first.get('msg', 'invalid request')}")

    @app.exception_handler(HTTPException)
    async def _http(request, exc):
        return fail(exc.status_code, str(exc.detail))

    @app.exception_handler(LookupError)
    async def _missing(request, exc):
        return fail(404, str(exc.args[0]) if exc.args else "not found")

    @app.exception_handler(GenzooError)
    async def _bad(request, exc):
        return fail(400, str(exc).splitlines()[0])

    @app.exception_handler(Exception)
    async def _crash(request, exc):
        LOG.exception("request failed")
        return fail(500, f"internal error ({type(exc).__name__}); see the server's log")

    @app.middleware("http")
    async def _guard(request: Request, call_next):
        if request.method not in ("GET", "HEAD"):
            refused = post_allowed(request, store.secret, vote_token)
            if refused is not None:
                return fail(*refused)
        response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        if not request.url.path.startswith("/bench/"):  # the bench report is one self-contained HTML file
            response.headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self' data: blob:; "
                                                           "media-src 'self' data: blob:; style-src 'self'; frame-src 'self'")
        return response

    def _with_session(request: Request, response: Response) -> str:
        session = request.cookies.get(SESSION_COOKIE) or new_session()
        response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="strict", max_age=30 * 86400)
        return csrf_token(store.secret, session)

    @app.get("/", response_class=HTMLResponse)
    def page(request: Request):
        response = HTMLResponse("")
        token = _with_session(request, response)
        html = (STATIC / "index.html").read_text().replace("{{CSRF}}", token)
        html = html.replace("{{TOKEN_NEEDED}}", "true" if vote_token else "false")
        response.body = html.encode()
        response.headers["content-length"] = str(len(response.body))
        return response

    @app.get("/api/session")
    def session(request: Request):
        response = JSONResponse({})
        token = _with_session(request, response)
        response.body = json.dumps({"csrf": token, "token_needed": vote_token is not None}).encode()
        response.headers["content-length"] = str(len(response.body))
        return response

    @app.get("/api/models")
    def models():
        return {"models": [{"name": r["name"], "kind": r["kind"]} for r in index.runs().values()]}

    @app.post("/api/generate/text")
    def generate_text(req: TextRequest):
        pipe = _text_model(req.model)
        opts = req.model_dump()
        events = textgen.stream(pipe, req.prompt, opts)

        def sse():
            for kind, value in events:
                payload = {"token": value} if kind == "token" else {"text": value} if kind == "done" else {"error": value}
                if kind == "done":
                    payload["watermark"] = textgen.watermark_score(pipe, value, opts)
                yield f"event: {kind}\ndata: {json.dumps(payload)}\n\n"

        return StreamingResponse(sse(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    @app.post("/api/generate/media")
    @app.post("/api/generate/image")  # the endpoint's first name, kept for existing clients
    def generate_media(req: MediaRequest):
        """A PNG of an image/2-D model's samples or a WAV of an audio model's clips."""
        if index.get(req.model)["kind"] == "text":
            raise GenzooError(f"{req.model} is a text model; use the text playground")
        with textgen.GENERATIONS:
            data, mime = sample_media(index.load(req.model), n=req.n, seed=req.seed, steps=req.steps,
                                      sampler=req.sampler, guidance_scale=req.guidance_scale, prompt=req.prompt)
        return Response(data, media_type=mime)

    def _text_model(name: str):
        if index.get(name)["kind"] != "text":
            raise GenzooError(f"{name} is not a text model; use the image playground")
        return index.load(name)

    @app.post("/api/arena/battle")
    def battle(req: BattleRequest):
        names = sorted(n for n, r in index.runs().items() if r["kind"] == req.kind)
        with rng_lock:
            a, b = store.draw_pair(names, rng)
        opts = req.model_dump()
        if req.kind == "text":
            outputs = [textgen.complete(_text_model(m), req.prompt, opts) for m in (a, b)]
        else:
            outputs = []
            for m in (a, b):
                with textgen.GENERATIONS:
                    data, mime = sample_media(index.load(m), n=req.n, seed=req.seed, steps=None, sampler=None)
                outputs.append(f"data:{mime};base64,{base64.b64encode(data).decode()}")
        battle_id = store.new_battle(a, b, req.kind, req.prompt, req.seed)
        return {"battle": battle_id, "kind": req.kind, "a": outputs[0], "b": outputs[1]}

    @app.post("/api/arena/vote")
    async def vote(req: VoteRequest, request: Request):
        # votes have threads of their own: they never queue behind generations in the shared pool
        voter = request.cookies.get(SESSION_COOKIE, "")[:16]
        return await asyncio.get_running_loop().run_in_executor(vote_pool, store.vote, req.battle, req.vote, voter)

    @app.get("/api/leaderboard")
    def leaderboard():
        from ..metrics.pairwise import rate

        counts = store.counts()
        if board_cache.get("total") != counts["total"]:
            judgements = store.judgements()
            try:
                rows = rate(judgements, bootstrap=bootstrap) if judgements else []
            except GenzooError:  # a resample left a model without a win or tie: too few votes for an interval
                rows = rate(judgements, bootstrap=0)
            board_cache.update(total=counts["total"], rows=rows)
        for row in board_cache["rows"]:
            row["votes"] = counts["per_model"].get(row["model"], 0)
        bench = "/bench/report.html" if (runs_dir / "bench" / "report.html").is_file() else None
        return {"rows": board_cache["rows"], "votes": counts["total"], "bench": bench}

    bench_dir = runs_dir / "bench"
    if bench_dir.is_dir():
        app.mount("/bench", StaticFiles(directory=bench_dir), name="bench")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodyLimit)
    return app
