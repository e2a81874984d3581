"""Reorder points, order and transfer suggestions from the champion forecast, with evidence.

python -m pipelines.plan_inventory                                   # defaults (conf/policy)
python -m pipelines.plan_inventory policy.kind=sS policy.service_level.mode=0.95
python -m pipelines.plan_inventory granularity=sku_location_daily policy.supply_terms=terms.csv
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig, OmegaConf

from pipelines.entry import entry_point
from src.compute import with_backend
from src.features.sets import open_store
from src.policy.pipeline import plan_inventory

log = logging.getLogger(__name__)


@with_backend
def run(cfg: DictConfig) -> dict:
    config = OmegaConf.to_container(cfg, resolve=True)
    store = open_store(config["features"], cfg.paths.features, cfg.paths.tables)
    return plan_inventory(config, store)


main = entry_point("plan_inventory", run)


if __name__ == "__main__":
    main()
