"""Request guards of ``genzoo serve``: a body-size cap (ASGI, before anything is parsed), CSRF tokens
(an HMAC of the session cookie, checked on every POST with the Origin), and the voting token
required when the server listens beyond loopback."""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets

SESSION_COOKIE = "genzoo_session"
MAX_BODY = 16 * 1024  # bytes; the largest legitimate request is a prompt of 2000 characters


def csrf_token(secret: str, session: str) -> str:
    return hmac.new(secret.encode(), session.encode(), hashlib.sha256).hexdigest()


def new_session() -> str:
    return secrets.token_urlsafe(24)


def post_allowed(request, secret: str, vote_token: str | None) -> tuple[int, str] | None:
    """None when a POST may go on, else (status, message)."""
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    if origin is not None and origin not in (f"http://{host}", f"https://{host}"):
        return 403, f"cross-origin request from {origin} refused"
    session = request.cookies.get(SESSION_COOKIE)
    sent = request.headers.get("x-csrf-token", "")
    if not session or not hmac.compare_digest(sent, csrf_token(secret, session)):
        return 403, "missing or wrong CSRF token: reload the page"
    if vote_token is not None and not hmac.compare_digest(request.headers.get("x-vote-token", ""), vote_token):
        return 401, "this server needs its voting token (printed when it started)"
    return None


class BodyLimit:
    """ASGI middleware: 413 for a request body over ``limit`` bytes, declared or streamed."""

    def __init__(self, app, limit: int = MAX_BODY):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await _reject(send, 413, f"request body over {self.limit} bytes")
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _reject(send, 413, f"request body over {self.limit} bytes")


class _TooLarge(Exception):
    pass


async def _reject(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
