"""Optuna tuning of one model, every trial a nested MLflow run; studies resume from SQLite.

python -m pipelines.tune task=forecast model=lightgbm tune.n_trials=30
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from src.forecast.pipeline import EXPERIMENT as FORECAST
from src.forecast.pipeline import task_from_tables
from src.forecast.tune import tune_forecaster
from src.recsys.pipeline import EXPERIMENT as RECSYS
from src.recsys.tune import tune_recommender
from src.tracking import configure

TASKS = ("forecast", "recsys")


def run(cfg: DictConfig):
    if cfg.task not in TASKS:
        raise ValueError(f"task '{cfg.task}' cannot be tuned yet; available: {TASKS}")
    config = OmegaConf.to_container(cfg, resolve=True)
    tracking = config["tracking"]
    if cfg.task == "recsys":
        configure(tracking["uri"], RECSYS, tracking["artifact_root"])
        tune_cfg = {**config["tune"], "metric": config["tune"]["recsys_metric"]}
        study = tune_recommender(cfg.model, cfg.paths.tables, config["recsys"], tune_cfg)
    else:
        configure(tracking["uri"], FORECAST, tracking["artifact_root"])
        task = task_from_tables(
            cfg.paths.tables, config["granularity"], cfg.holiday_country, config
        )
        task.quantiles = tuple(config["forecast"]["quantiles"])
        study = tune_forecaster(cfg.model, task, config["forecast"], config["tune"])
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    print(f"\nstudy {study.study_name}: {len(study.trials)} trials ({len(done)} complete)")
    if done:
        print(f"best = {study.best_value:.4f} with {study.best_params}")
    return study


@hydra.main(version_base="1.3", config_path="../conf", config_name="tune")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
