"""Apply the configured promotion rule to the registered model of a task (no retraining).

python -m pipelines.promote task=forecast [granularity=...] [forecast.promotion.min_improvement=0.02]
python -m pipelines.promote task=recsys
"""

from __future__ import annotations

import json
import logging

from omegaconf import DictConfig, OmegaConf

from pipelines.entry import entry_point
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


main = entry_point("promote", run)


if __name__ == "__main__":
    main()
