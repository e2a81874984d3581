"""Backtest, track, register and promote demand forecasters.

python -m pipelines.train_forecast                                    # SKU x day, defaults
python -m pipelines.train_forecast granularity=category_location_monthly
python -m pipelines.train_forecast 'forecast.train=[lightgbm,tft]' forecast.accelerator=gpu
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig, OmegaConf

from pipelines.entry import entry_point
from src.compute import with_backend
from src.features.sets import open_store
from src.forecast.pipeline import forecast_task, train_forecasts
from src.tracking import TaskSpec

log = logging.getLogger(__name__)


@with_backend
def run(cfg: DictConfig) -> dict:
    config = OmegaConf.to_container(cfg, resolve=True)
    store = open_store(config["features"], cfg.paths.features, cfg.paths.tables)
    task = forecast_task(
        store,
        config["features"],
        config["granularity"],
        TaskSpec.from_config(config["tasks"]["forecast"]),
        config["forecast"]["quantiles"],
    )
    return train_forecasts(task, config["forecast"], config["tracking"], config)


main = entry_point("train_forecast", run)


if __name__ == "__main__":
    main()
