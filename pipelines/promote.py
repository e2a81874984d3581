"""Apply the configured promotion rule to the registered model of a task (no retraining).

python -m pipelines.promote task=forecast [granularity=...] [forecast.promotion.min_improvement=0.02]
python -m pipelines.promote task=recsys
"""

from __future__ import annotations

import json

import hydra
from omegaconf import DictConfig, OmegaConf

from src.tracking import PromotionRule, configure, promote

EXPERIMENTS = {"forecast": "forecast", "recsys": "recsys"}


def run(cfg: DictConfig) -> dict:
    if cfg.task not in EXPERIMENTS:
        raise ValueError(
            f"task '{cfg.task}' has no registered models; choose one of {sorted(EXPERIMENTS)}"
        )
    config = OmegaConf.to_container(cfg, resolve=True)
    configure(config["tracking"]["uri"], EXPERIMENTS[cfg.task], config["tracking"]["artifact_root"])
    if cfg.task == "forecast":
        name, rule = config["granularity"]["registered_model"], config["forecast"]["promotion"]
    else:
        name, rule = config["recsys"]["registered_model"], config["recsys"]["promotion"]
    decision = promote(name, PromotionRule(**rule))
    print(json.dumps(decision, indent=2, default=str), flush=True)
    return decision


@hydra.main(version_base="1.3", config_path="../conf", config_name="promote")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
