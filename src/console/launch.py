"""Starting the console: users (an ``admin`` created on the first start when none are
configured, its random password in ``console.bootstrap_dir``, mode 600, never logged) and the
gunicorn server (gthread workers) around :func:`src.console.app.create_app`."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from src.console.auth import ENV_USERS, ENV_USERS_FILE, entry

log = logging.getLogger(__name__)


def bootstrap_users(folder: Path) -> None:
    """Point the console at ``folder/users.txt``, creating an admin there on the first start."""
    if os.environ.get(ENV_USERS) or os.environ.get(ENV_USERS_FILE):
        return
    users = folder / "users.txt"
    if not users.exists():
        folder.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(12)
        secret = folder / "admin_password"
        secret.write_text(password + "\n")
        secret.chmod(0o600)
        users.write_text(entry("admin", "admin", password) + "\n")
        users.chmod(0o600)
        log.info("created the console user 'admin'; its password is in %s (add users with "
                 "`python -m src.console.auth add NAME ROLE --file %s`)", secret, users)  # fmt: skip
    os.environ[ENV_USERS_FILE] = str(users)


def serve(config: dict) -> None:
    from gunicorn.app.base import BaseApplication

    from src.console.app import create_app

    app = create_app(config)
    c = config["console"]

    class Console(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{c['host']}:{int(c['port'])}")
            self.cfg.set("workers", int(c["workers"]))
            self.cfg.set("threads", int(c["threads"]))
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("timeout", 60)
            self.cfg.set("graceful_timeout", 5)
            self.cfg.set("accesslog", "-")  # paths only: no bodies, no cookies
            self.cfg.set("access_log_format", '%(h)s "%(r)s" %(s)s %(b)s %(M)sms')

        def load(self):
            return app.server

    log.info("console on http://%s:%s (Ctrl-C stops)", c["host"], c["port"])
    Console().run()


def run_console(config: Mapping) -> None:
    """`make console`: users bootstrapped, then the console served until stopped."""
    bootstrap_users(Path(config["console"]["bootstrap_dir"]))
    serve(config)
