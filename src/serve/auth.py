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


MAX_BODY_BYTES = 2 * 1024 * 1024  # a 1,000-customer batch is ~60 KB; 200 MB bodies were taken


class JsonBodies:
    """ASGI middleware: business endpoints take JSON bodies of bounded size.

    * a POST whose ``Content-Type`` is not JSON gets 415 (BentoML parsed any body as JSON, and
      handed ``multipart/*`` to a form parser that failed with a 500 — found by schemathesis);
    * a body over ``max_bytes`` gets 413, by its ``Content-Length`` or, when chunked, as soon as
      the bytes read pass the limit (the body is then replayed to the app from memory).
    """

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        ctype, length = b"", None
        for name, v in scope.get("headers", []):
            low = name.lower()
            if low == b"content-type":
                ctype = v.lower()
            elif low == b"content-length":
                length = v
        media = ctype.split(b";")[0].strip()
        if media != b"application/json" and not media.endswith(b"+json"):
            await _json(
                send,
                415,
                {"error": "send the request body as JSON (Content-Type: application/json)"},
            )
            return
        too_big = {"error": f"request body larger than {self.max_bytes:,} bytes"}
        if length is not None:
            try:
                if int(length) > self.max_bytes:
                    await _json(send, 413, too_big)
                    return
            except ValueError:
                await _json(send, 400, {"error": "invalid Content-Length"})
                return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                chunks.append(message)
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await _json(send, 413, too_big)
                return
            chunks.append(message)
            if not message.get("more_body", False):
                break
        replay = iter(chunks)

        async def replayed():
            try:
                return next(replay)
            except StopIteration:
                return await receive()

        await self.app(scope, replayed, send)


async def _json(send, status: int, payload: dict, extra: list | None = None) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})
