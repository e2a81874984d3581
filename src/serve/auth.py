"""Bearer-key authentication as a pure ASGI middleware.

Keys come from ``RETAIL_BRAIN_API_KEYS`` (comma-separated) or from a file named by
``RETAIL_BRAIN_API_KEYS_FILE`` (one key per line) — never from the repository. Only SHA-256
digests are kept in memory and compared in constant time. Health and metrics endpoints stay open;
everything else answers ``401 {"error": "unauthorized"}`` without saying why, and nothing about
the key is ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable
from pathlib import Path

# health, metrics and the API description (schema + Swagger UI) stay open
OPEN_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/metrics", "/docs.json", "/"})
OPEN_PREFIXES = ("/static_content/",)
ENV_KEYS = "RETAIL_BRAIN_API_KEYS"
ENV_KEYS_FILE = "RETAIL_BRAIN_API_KEYS_FILE"
MIN_KEY_LENGTH = 16


class MissingKeys(RuntimeError):
    pass


def load_keys(environ: dict | None = None) -> list[str]:
    """API keys from the environment (or the file it names); refuses short or missing keys."""
    env = os.environ if environ is None else environ
    raw = env.get(ENV_KEYS, "")
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    path = env.get(ENV_KEYS_FILE)
    if path:
        keys += [ln.strip() for ln in Path(path).read_text().splitlines() if ln.strip()]
    if not keys:
        raise MissingKeys(
            f"no API keys: set {ENV_KEYS} (comma-separated) or {ENV_KEYS_FILE} (one per line)"
        )
    short = [k for k in keys if len(k) < MIN_KEY_LENGTH]
    if short:
        raise MissingKeys(f"{len(short)} API key(s) shorter than {MIN_KEY_LENGTH} characters")
    return keys


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class BearerAuth:
    """ASGI middleware: ``Authorization: Bearer <key>`` on every path but the open ones."""

    def __init__(self, app, keys: Iterable[str] | None = None, open_paths=OPEN_PATHS):
        self.app = app
        self.digests = [_digest(k) for k in (load_keys() if keys is None else keys)]
        self.open_paths = frozenset(open_paths)

    def allowed(self, headers: list[tuple[bytes, bytes]]) -> bool:
        value = b""
        for name, v in headers:
            if name.lower() == b"authorization":
                value = v
                break
        scheme, _, token = value.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        d = _digest(token.strip())
        ok = False
        for ref in self.digests:  # no early exit: same time for every key
            ok |= hmac.compare_digest(d, ref)
        return ok

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] != "http" or path in self.open_paths or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        if self.allowed(scope.get("headers", [])):
            await self.app(scope, receive, send)
            return
        await _json(send, 401, {"error": "unauthorized"}, [(b"www-authenticate", b"Bearer")])


class JsonBodies:
    """ASGI middleware: business endpoints take JSON; multipart bodies get 415, not a parser crash.

    BentoML parses any body as JSON for our APIs, except ``multipart/*``, which it hands to a form
    parser that fails with a 500 when the boundary is missing (found by schemathesis).
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("method") == "POST":
            ctype = b""
            for name, v in scope.get("headers", []):
                if name.lower() == b"content-type":
                    ctype = v.lower()
                    break
            if ctype.startswith(b"multipart/"):
                await _json(
                    send,
                    415,
                    {"error": "send the request body as JSON (Content-Type: application/json)"},
                )
                return
        await self.app(scope, receive, send)


async def _json(send, status: int, payload: dict, extra: list | None = None) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})
