"""API keys: where they come from, what is refused, how a header is checked."""

from __future__ import annotations

import asyncio

import pytest

from src.serve.auth import BearerAuth, JsonBodies, MissingKeys, load_keys

KEY = "k" * 20


def test_keys_from_env_and_file(tmp_path):
    f = tmp_path / "keys"
    f.write_text(f"{'f' * 20}\n\n")
    keys = load_keys({"RETAIL_BRAIN_API_KEYS": f" {KEY} ,", "RETAIL_BRAIN_API_KEYS_FILE": str(f)})
    assert keys == [KEY, "f" * 20]


@pytest.mark.parametrize(
    "env", [{}, {"RETAIL_BRAIN_API_KEYS": " , "}, {"RETAIL_BRAIN_API_KEYS": "short"}]
)
def test_no_or_short_keys_refuse_to_start(env):
    with pytest.raises(MissingKeys):
        load_keys(env)


def call(app, path="/recommend", headers=(), method="POST"):
    sent = []

    async def send(msg):
        sent.append(msg)

    async def receive():
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "path": path, "method": method, "headers": list(headers)}
    asyncio.run(app(scope, receive, send))
    return sent


async def ok_app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})


@pytest.mark.parametrize(
    "header,status",
    [
        (None, 401),
        (b"Bearer " + KEY.encode(), 200),
        (b"bearer " + KEY.encode(), 200),
        (b"Bearer " + b"x" * 20, 401),
        (b"Basic " + KEY.encode(), 401),
        (KEY.encode(), 401),
    ],
)
def test_bearer_header(header, status):
    app = BearerAuth(ok_app, keys=[KEY])
    headers = [] if header is None else [(b"authorization", header)]
    assert call(app, headers=headers)[0]["status"] == status


def test_health_is_open_and_401_says_nothing_more():
    app = BearerAuth(ok_app, keys=[KEY])
    assert call(app, "/readyz", method="GET")[0]["status"] == 200
    sent = call(app)
    assert sent[1]["body"] == b'{"error": "unauthorized"}'


def test_multipart_bodies_get_415():
    app = JsonBodies(ok_app)
    sent = call(app, headers=[(b"content-type", b"multipart/form-data")])
    assert sent[0]["status"] == 415
    assert call(app, headers=[(b"content-type", b"application/json")])[0]["status"] == 200
