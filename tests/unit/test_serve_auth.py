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


# --- issue 17 item 11: strict bodies, offline docs, quiet client errors, telemetry off --------


def call_body(_, chunks, headers):
    sent, received = [], []
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]

    async def send(msg):
        sent.append(msg)

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def echo(scope, receive, send):
        while True:
            m = await receive()
            received.append(m.get("body", b""))
            if not m.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})

    scope = {"type": "http", "path": "/recommend", "method": "POST", "headers": headers}
    asyncio.run(JsonBodies(echo, max_bytes=1000)(scope, receive, send))
    return sent[0]["status"], b"".join(received)


@pytest.mark.parametrize("ctype", [b"text/plain", b"application/x-www-form-urlencoded", b""])
def test_non_json_content_types_get_415(ctype):
    headers = [(b"content-type", ctype)] if ctype else []
    assert call(JsonBodies(ok_app), headers=headers)[0]["status"] == 415
    ok = [(b"content-type", b"application/json; charset=utf-8")]
    assert call(JsonBodies(ok_app), headers=ok)[0]["status"] == 200


def test_bodies_over_the_limit_get_413_declared_or_chunked():
    json_ = (b"content-type", b"application/json")
    status, _ = call_body(None, [b"{}"], [json_, (b"content-length", b"5000")])
    assert status == 413
    status, _ = call_body(None, [b"x" * 600, b"x" * 600], [json_])  # chunked, no length
    assert status == 413
    status, body = call_body(None, [b'{"a":', b" 1}"], [json_])  # small: replayed intact
    assert status == 200 and body == b'{"a": 1}'


def test_the_docs_page_loads_no_tag_manager():
    from src.serve.hardening import OfflineDocs

    sent = call(OfflineDocs(ok_app), "/", method="GET")
    assert sent[0]["status"] == 200
    body = sent[1]["body"]
    assert b"swagger" in body.lower() and b"googletagmanager" not in body


def test_client_errors_are_logged_at_info_without_inputs(caplog):
    import logging

    from pydantic import BaseModel, ValidationError

    from src.serve.hardening import BENTOML_HTTP_LOGGER, ClientErrorsAtInfo

    class M(BaseModel):
        k: int

    logger = logging.getLogger(BENTOML_HTTP_LOGGER)
    logger.addFilter(ClientErrorsAtInfo())
    try:
        M(k="customer-canary-123")
    except ValidationError:
        with caplog.at_level(logging.INFO, logger=BENTOML_HTTP_LOGGER):
            logger.error("Exception on %s [%s]", "/recommend", "POST", exc_info=True)
    try:
        raise RuntimeError("a real server fault")
    except RuntimeError:
        with caplog.at_level(logging.INFO, logger=BENTOML_HTTP_LOGGER):
            logger.error("Exception on %s [%s]", "/recommend", "POST", exc_info=True)
    client, server = caplog.records[-2:]
    assert client.levelno == logging.INFO and client.exc_info is None
    assert "customer-canary-123" not in caplog.text.split("a real server fault")[0]
    assert server.levelno == logging.ERROR and server.exc_info is not None


def test_route_labels_never_carry_a_raw_path():
    from src.serve.metrics import OTHER, route_label

    routes = {"/recommend"}
    assert route_label("/recommend", routes) == "/recommend"
    assert route_label("/readyz", routes) == "/readyz"
    assert route_label("/static_content/swagger.css", routes) == "/static_content/*"
    assert route_label("/x" * 500, routes) == OTHER


def test_telemetry_is_off_for_every_entry_point():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if "TELEMETRY" not in k and "TRACK" not in k}
    env = {k: v for k, v in env.items() if k not in ("CI", "PYTEST_CURRENT_TEST")}
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import pipelines, mlflow.telemetry.utils as u, os;"
            "print(u.is_telemetry_disabled(), os.environ['BENTOML_DO_NOT_TRACK'])",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.stdout.split() == ["True", "True"], out.stderr[-1500:]


def test_a_request_whose_headers_never_finish_is_closed():
    """Slowloris: uvicorn under BentoML never timed out half-sent headers."""
    import socket
    import threading
    import time

    import uvicorn

    from src.serve.hardening import limit_header_time
    from src.serve.process import free_port

    limit_header_time(1.0)

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, http="h11", log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)

        def drip(first: bytes = b"") -> float:
            """Seconds until the server closes a connection that drips header bytes."""
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                if first:
                    s.sendall(first)
                    assert s.recv(1024).startswith(b"HTTP/1.1 200")
                t0 = time.time()
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
                for _ in range(20):
                    time.sleep(0.3)
                    try:
                        s.sendall(b"X")
                        s.settimeout(0.01)
                        if s.recv(1024) == b"":
                            return time.time() - t0
                    except TimeoutError:
                        continue
                    except OSError:
                        return time.time() - t0
                return float("inf")

        assert drip() < 3  # a fresh connection
        assert drip(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") < 3  # after a first, complete request
    finally:
        server.should_exit = True
        thread.join(timeout=10)
