"""Apply the configured promotion rule to the registered model of a task (no retraining).

python -m pipelines.promote task=forecast [granularity=...] [forecast.promotion.min_improvement=0.02]
python -m pipelines.promote task=recsys
"""

from __future__ import annotations

import json
import logging
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from src.tracking import PromotionRule, configure, promote
from src.tracking.tasks import select

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict:
    config = OmegaConf.to_container(cfg, resolve=True)
    spec = select(config["tasks"], cfg.task, need_registry=True)
    tracking = config["tracking"]
    configure(tracking["uri"], spec.experiment, tracking["artifact_root"])
    decision = promote(spec.registered_model, PromotionRule.for_task(spec))
    print(json.dumps(decision, indent=2, default=str), flush=True)
    return decision


@hydra.main(version_base="1.3", config_path="../conf", config_name="promote")
def main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except ValueError as err:
        log.error("stopped: %s", err)
        sys.exit(2)


if __name__ == "__main__":
    main()
