"""The web console: KPIs, alerts, planning, customers and models (src/console).

RETAIL_BRAIN_CONSOLE_USERS_FILE=console_users.txt python -m pipelines.console   # :8050
python -m pipelines.console console.port=8060
Add a user: python -m src.console.auth add ann planner --file console_users.txt
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from src.console.auth import NoUsers

log = logging.getLogger(__name__)


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


@hydra.main(version_base="1.3", config_path="../conf", config_name="console")
def main(cfg: DictConfig) -> None:
    try:
        serve(OmegaConf.to_container(cfg, resolve=True))
    except NoUsers as err:
        log.error("stopped: %s", err)
        sys.exit(2)


if __name__ == "__main__":
    main()
