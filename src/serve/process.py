"""Start, wait for and stop `bentoml serve` processes (make serve, tests, the load benchmark)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def start(
    target: str,
    env: dict,
    port: int | None = None,
    host: str = "127.0.0.1",
    log: Path | None = None,
    cwd: str | Path | None = None,
) -> tuple[subprocess.Popen, str]:
    """``bentoml serve target`` on ``host:port`` (a free port if None); returns ``(proc, url)``.

    Output goes to ``log`` when given (the file stays open as long as the process runs)."""
    port = free_port(host) if port is None else port
    env = own_metrics_home(env, target, port)
    out = open(log, "w") if log else None  # noqa: SIM115 - closed by the OS with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "bentoml", "serve", target, "--host", host, "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT if out else None,
    )
    return proc, f"http://{host}:{port}"


def own_metrics_home(env: dict, target: str, port: int) -> dict:
    """``env`` with a BentoML home of this server's own, sharing the Bentos and models.

    BentoML keeps its Prometheus multiprocess files in ``$BENTOML_HOME/prometheus_multiproc_dir``
    and *empties* it when a server starts: two services on one home wiped each other's metrics
    and reported each other's series. Each server gets ``<home>/servers/<name>-<port>`` with
    ``bentos`` and ``models`` linked to the shared store, so its metrics are its own."""
    home = env.get("BENTOML_HOME")
    if not home:
        return env
    home = Path(home)
    own = home / "servers" / f"{target.split(':')[0]}-{port}"
    own.mkdir(parents=True, exist_ok=True)
    for store in ("bentos", "models"):
        (home / store).mkdir(parents=True, exist_ok=True)
        link = own / store
        if not link.is_symlink():
            link.symlink_to(home / store, target_is_directory=True)
    return {**env, "BENTOML_HOME": str(own)}


def wait_ready(
    url: str,
    proc: subprocess.Popen,
    timeout: float = 180,
    log: Path | None = None,
    path: str = "/readyz",
) -> None:
    """Poll ``path`` (``/readyz``; the console's is ``/healthz``) until it answers 200; fail
    early if the server exits."""
    t0 = time.time()
    tail = lambda: f"\n{Path(log).read_text()[-3000:]}" if log else ""  # noqa: E731
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {proc.returncode}{tail()}")
        try:
            with urllib.request.urlopen(url + path, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} not ready after {timeout:.0f} s{tail()}")


def stop(procs, signal_first=None, timeout: float = 20) -> None:
    """Ask every process to stop (SIGTERM, or ``signal_first``), kill what does not."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal_first) if signal_first else p.terminate()
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
