"""Reorder points, order and transfer suggestions from the champion forecast, with evidence.

python -m pipelines.plan_inventory                                   # defaults (conf/policy)
python -m pipelines.plan_inventory policy.kind=sS policy.service_level.mode=0.95
python -m pipelines.plan_inventory granularity=sku_location_daily policy.supply_terms=terms.csv
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from src.compute import with_backend
from src.features.sets import open_store
from src.features.validation import DataValidationError
from src.policy.pipeline import plan_inventory

log = logging.getLogger(__name__)


@with_backend
def run(cfg: DictConfig) -> dict:
    config = OmegaConf.to_container(cfg, resolve=True)
    store = open_store(config["features"], cfg.paths.features, cfg.paths.tables)
    return plan_inventory(config, store, cfg.paths.tables, cfg.paths.forecasts, cfg.policy.output)


@hydra.main(version_base="1.3", config_path="../conf", config_name="plan_inventory")
def main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except (DataValidationError, FileNotFoundError, ValueError) as err:
        log.error("stopped, nothing was written: %s", err)
        log.debug("details", exc_info=True)  # the traceback goes to the run's log file
        sys.exit(2)


if __name__ == "__main__":
    main()
