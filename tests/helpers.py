"""Test helpers, in one module (tests import from here, never from conftest)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RAW = REPO / "data" / "raw"
CONF = str(REPO / "conf")


def compose(name: str, overrides: list[str] | None = None):
    """The entry config ``name`` with ``overrides``, as the pipelines get it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return hydra_compose(config_name=name, overrides=overrides or [])


def run_module(module: str, args: list[str], cwd: Path = REPO, env: dict | None = None):
    """``python -m module args`` in a child process (what a user types), output captured."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def tmp_paths(tmp: Path) -> list[str]:
    """``paths.*`` overrides that keep tables, runs and logs of a test under ``tmp``."""
    return [f"paths.output={tmp}/tables", f"paths.mlruns={tmp}/mlruns", f"paths.logs={tmp}/logs"]


SYNTHETIC = ["data=synthetic", "data.n_people=400", "data.n_skus=40", "data.days=200"]


GENERIC_COLUMNS = {
    "order_id": "Order",
    "customer_id": "Customer",
    "sku": "Item",
    "ts": "When",
    "qty": "Units",
    "revenue": "Amount",
    "location_id": "Shop",
}


def train_tiny_stack(
    tmp: Path,
    forecast: str,
    recsys: str,
    gran: list[str],
    plan: list[str],
    data: list[str] | None = None,
) -> list[str]:
    """Synthetic data -> ingest -> tiny forecasters + recommenders -> reorder plan, all tracked in
    ``tmp/mlruns``; returns the ``paths.*`` overrides that point at it."""
    from pipelines import ingest, plan_inventory, train_forecast, train_recsys

    paths = tmp_paths(tmp)
    ingest.run(compose("ingest", [*SYNTHETIC, *(data or []), *paths]))
    train_forecast.run(compose("train_forecast", [*paths, *gran, f"forecast.train={forecast}"]))
    train_recsys.run(compose("train_recsys", [*paths, f"recsys.train={recsys}", "recsys.k=10"]))
    plan_inventory.run(compose("plan_inventory", [*paths, *gran, "policy.draws=200", *plan]))
    return paths


class WebhookReceiver:
    """A real HTTP server on loopback that records JSON POSTs (``fail=True``: answers 500)."""

    def __init__(self, fail: bool = False):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received: list[dict] = []
        self.headers: list[dict] = []
        self.fail = fail
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.fail:
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.received.append(json.loads(body))
                receiver.headers.append(dict(self.headers))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver:
    """A real SMTP server on loopback (aiosmtpd) that keeps the messages it accepts."""

    def __init__(self):
        import socket

        from aiosmtpd.controller import Controller

        self.messages: list = []
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd API)
                from email import message_from_bytes

                outer.messages.append(message_from_bytes(envelope.content))
                return "250 OK"

        with socket.socket() as s:  # a free port
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def close(self):
        self.controller.stop()
