"""The main job (`make run`): every step in order on the configured data.

ingest -> features -> forecasts -> recommendations -> reorder plan (the last step; `make serve`
packages the champions it promoted).
"""

from __future__ import annotations

import logging
import sys
import time

import hydra
from omegaconf import DictConfig

from pipelines import (
    build_features,
    ingest,
    plan_inventory,
    train_forecast,
    train_recsys,
)
from src.features.store import FeatureSetMissing
from src.features.validation import DataValidationError

log = logging.getLogger(__name__)
STEPS = [
    ("ingest", ingest.run),
    ("build_features", build_features.run),
    ("train_forecast", train_forecast.run),
    ("train_recsys", train_recsys.run),
    ("plan_inventory", plan_inventory.run),
]


def run(cfg: DictConfig) -> dict:
    results = {}
    t0 = time.perf_counter()
    for i, (name, step) in enumerate(STEPS, 1):
        log.info("[step %d/%d] %s ...", i, len(STEPS), name)
        t = time.perf_counter()
        results[name] = step(cfg)
        log.info("[step %d/%d] %s done in %.1f s", i, len(STEPS), name, time.perf_counter() - t)
    log.info("all %d steps done in %.1f s", len(STEPS), time.perf_counter() - t0)
    return results


@hydra.main(version_base="1.3", config_path="../conf", config_name="run")
def main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except (DataValidationError, FeatureSetMissing) as err:
        log.error("stopped, nothing was written:\n%s", err)
        sys.exit(2)


if __name__ == "__main__":
    main()
