"""What each service module installs at import: offline docs, quiet client errors, route labels.

* **Offline docs page** — BentoML's Swagger page (``GET /``) loads Google Tag Manager; this
  product runs offline and tracks nobody, so ``/`` is served from the same page with the tag
  manager removed (:class:`OfflineDocs`).
* **Client errors at INFO, without inputs** — BentoML logs a request that fails validation at
  ERROR with a traceback whose text holds the request's values (customer ids);
  :class:`ClientErrorsAtInfo` turns those records into one INFO line naming the path and the
  error type only. Server errors (5xx) stay at ERROR with their traceback.
* **Metrics by route** — :func:`src.serve.metrics.label_by_route`.
* **Header timeout** — uvicorn (h11, under BentoML) times out idle keep-alive connections but
  not a request whose headers never finish: a client sending one header byte at a time held a
  connection forever (slowloris). :func:`limit_header_time` closes a connection whose request
  headers are not complete ``RETAIL_BRAIN_HEADER_TIMEOUT`` seconds (10) after it opened or
  after its previous response.
"""

from __future__ import annotations

import logging
import os
import re
from functools import cache
from pathlib import Path

from src.serve.metrics import label_by_route

BENTOML_HTTP_LOGGER = "bentoml._internal.server.http_app"
_GTM = re.compile(r"<!-- Google Tag Manager.*?<!-- End Google Tag Manager[^>]*-->", re.S)


@cache
def offline_docs_page() -> bytes:
    """BentoML's OpenAPI page without its tag manager (script and noscript blocks)."""
    import _bentoml_impl.server as server

    html = (Path(server.__file__).parent / "main-openapi.html").read_text()
    clean = _GTM.sub("", html)
    if "googletagmanager" in clean:
        raise RuntimeError("could not remove the tag manager from BentoML's docs page")
    return clean.encode()


class OfflineDocs:
    """ASGI middleware: ``GET /`` is the docs page without third-party trackers."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if (
            scope["type"] == "http"
            and scope.get("method") in ("GET", "HEAD")
            and scope.get("path") == "/"
        ):
            body = offline_docs_page()
            headers = [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


class ClientErrorsAtInfo(logging.Filter):
    """A logged client error (validation, 4xx) becomes one INFO line with no inputs in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None or not _is_client_error(exc):
            return True
        path = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        record.msg = "client error on %s: %s"
        record.args = (path, type(exc).__name__)
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def _is_client_error(exc: BaseException) -> bool:
    from bentoml.exceptions import BentoMLException
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return True
    if isinstance(exc, BentoMLException):
        return int(exc.error_code.value) < 500
    return False


HEADER_TIMEOUT_ENV = "RETAIL_BRAIN_HEADER_TIMEOUT"


def limit_header_time(seconds: float | None = None) -> None:
    """Close connections whose request headers take longer than ``seconds`` (idempotent)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol as P

    limit = float(seconds if seconds is not None else os.environ.get(HEADER_TIMEOUT_ENV, 10))
    P._retail_brain_header_timeout = limit
    if getattr(P, "_retail_brain_timer", False):
        return
    made, handle, complete = P.connection_made, P.handle_events, P.on_response_complete

    def waiting(self) -> bool:  # no request in flight: the next one's headers are awaited
        return self.cycle is None or self.cycle.response_complete

    def arm(self) -> None:
        disarm(self)
        self._rb_header_timer = self.loop.call_later(P._retail_brain_header_timeout, fire, self)

    def disarm(self) -> None:
        timer = getattr(self, "_rb_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._rb_header_timer = None

    def fire(self) -> None:
        self._rb_header_timer = None
        if waiting(self) and not self.transport.is_closing():
            self.logger.info("closing a connection whose request headers took too long")
            self.transport.close()

    def connection_made(self, transport) -> None:
        made(self, transport)
        arm(self)

    def handle_events(self) -> None:
        handle(self)
        if not waiting(self):
            disarm(self)

    def on_response_complete(self) -> None:
        complete(self)
        if not self.transport.is_closing():
            arm(self)

    P.connection_made, P.handle_events = connection_made, handle_events
    P.on_response_complete = on_response_complete
    P._retail_brain_timer = True


def harden(service) -> None:
    """Install everything above for ``service`` (call once, at import of its module)."""
    limit_header_time()
    service.add_asgi_middleware(OfflineDocs)
    label_by_route(service)
    logger = logging.getLogger(BENTOML_HTTP_LOGGER)
    if not any(isinstance(f, ClientErrorsAtInfo) for f in logger.filters):
        logger.addFilter(ClientErrorsAtInfo())
