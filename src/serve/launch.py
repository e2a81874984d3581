"""`make serve`: both services on loopback, built from the current champions when needed.

Keys: ``RETAIL_BRAIN_API_KEYS`` (comma-separated) or ``RETAIL_BRAIN_API_KEYS_FILE``. If neither
is set, a random key is generated once into ``<bentoml_home>/api_key`` (mode 600, out of git) and
used; the key itself is never printed or logged — read it from that file. The Bentos are (re)built
first when none exist, when the registry's champions or the reorder plan changed since they were
built (labels ``mlflow_version``, ``source_fingerprint``), or with ``serving.rebuild=true``.
Ctrl-C stops both.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from src.serve.process import start, stop, wait_ready

log = logging.getLogger(__name__)


def key_env(home: Path) -> dict:
    env = dict(os.environ)
    if env.get("RETAIL_BRAIN_API_KEYS") or env.get("RETAIL_BRAIN_API_KEYS_FILE"):
        return env
    path = home / "api_key"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32) + "\n")
        path.chmod(0o600)
        log.info(
            "generated an API key into %s (export RETAIL_BRAIN_API_KEYS to use your own)", path
        )
    env["RETAIL_BRAIN_API_KEYS_FILE"] = str(path)
    return env


def bento_labels(env: dict, name: str) -> dict | None:
    """Labels of the latest Bento called ``name`` (None if there is none)."""
    out = subprocess.run(
        [sys.executable, "-m", "bentoml", "get", f"{name}:latest", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        return None
    try:
        return json.loads(out.stdout).get("labels", {})
    except json.JSONDecodeError:
        return None


def outdated(config: Mapping, env: dict) -> list[str]:
    """Why the Bentos do not serve the current champions and plan (empty: they do)."""
    from src.serve.package import SERVICES, recsys_sources, sources, stale

    now = sources(
        config["tracking"]["uri"],
        recsys_sources(config),
        config["paths"],
        config["tasks"]["recsys"]["registered_model"],
        config["tasks"]["forecast"]["registered_model"],
    )
    reasons = []
    for service, bento in SERVICES.items():
        why = stale(now[service], bento_labels(env, bento))
        if why:
            reasons.append(f"{bento}: {why}")
    return reasons


def run_serve(config: Mapping) -> None:
    """`make serve`: both services on loopback, (re)built from the champions when needed."""
    s, paths = config["serving"], config["paths"]
    home = Path(s["bentoml_home"]).resolve()
    env = key_env(home)
    env.setdefault("RETAIL_BRAIN_MARKETING_DIR", str(Path(paths["marketing"]).resolve()))
    env.setdefault(  # POST /route's reservations, shared by every planner worker
        "RETAIL_BRAIN_RESERVATIONS", str(Path(paths["routing"]).resolve() / "reservations.db")
    )
    env.update(BENTOML_HOME=str(home), BENTOML_DO_NOT_TRACK="True", OPENBLAS_NUM_THREADS="1")
    reasons = ["serving.rebuild=true"] if s["rebuild"] else outdated(config, env)
    if reasons:  # build from the registry's champions and the current plan
        log.info("building the Bentos: %s", "; ".join(reasons))
        from src.serve.package import run_build_services

        run_build_services(config)
    procs = {
        name: start(f"retail-brain-{name}:latest", env, int(port), str(s["host"]))
        for name, port in (("recsys", s["recsys_port"]), ("planner", s["planner_port"]))
    }
    try:
        for proc, url in procs.values():
            wait_ready(url, proc)
        keyhint = (
            "$RETAIL_BRAIN_API_KEYS"
            if os.environ.get("RETAIL_BRAIN_API_KEYS")
            else f"$(head -1 {env.get('RETAIL_BRAIN_API_KEYS_FILE')})"
        )
        print(
            f"\nrecommendations: {procs['recsys'][1]}   planner: {procs['planner'][1]}   "
            f"(API docs at /, health at /readyz)\n"
            f"try: curl -s -H \"Authorization: Bearer {keyhint}\" -H 'Content-Type: application/json' "
            f'-d \'{{"customer_id": "12347", "k": 5}}\' {procs["recsys"][1]}/recommend\n'
            "Ctrl-C stops both.",
            flush=True,
        )
        while all(p.poll() is None for p, _ in procs.values()):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        stop([p for p, _ in procs.values()], signal.SIGINT)
