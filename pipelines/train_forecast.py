"""Backtest, track, register and promote demand forecasters.

python -m pipelines.train_forecast                                    # SKU x day, defaults
python -m pipelines.train_forecast granularity=category_location_monthly
python -m pipelines.train_forecast 'forecast.train=[lightgbm,tft]' forecast.accelerator=gpu
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from src.forecast.pipeline import task_from_tables, train_forecasts


def run(cfg: DictConfig) -> dict:
    config = OmegaConf.to_container(cfg, resolve=True)
    task = task_from_tables(cfg.paths.tables, config["granularity"], cfg.holiday_country, config)
    return train_forecasts(task, config["forecast"], config["tracking"], cfg.paths.forecasts)


@hydra.main(version_base="1.3", config_path="../conf", config_name="train_forecast")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
