"""KPIs, alerts and their delivery from the latest data, plan, forecasts and recommendations.

python -m pipelines.monitor                                  # conf/monitor/default.yaml
RETAIL_BRAIN_WEBHOOK_URL=http://127.0.0.1:9000/hook python -m pipelines.monitor
python -m pipelines.monitor monitor.cooldown_hours=0 'monitor.rules=[]'
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from src.features.validation import DataValidationError
from src.monitor.pipeline import run_monitor

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict:
    return run_monitor(OmegaConf.to_container(cfg, resolve=True))


@hydra.main(version_base="1.3", config_path="../conf", config_name="monitor")
def main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except (DataValidationError, FileNotFoundError, ValueError) as err:
        log.error("stopped: %s", err)
        sys.exit(2)


if __name__ == "__main__":
    main()
