"""Did each campaign pay? Effects with intervals, ROI, power, uplift models (conf/measure).

python -m pipelines.measure_campaigns                                  # after ingest
python -m pipelines.measure_campaigns measure.attribution_days=14 measure.margin_rate=0.4
python -m pipelines.measure_campaigns paths.output=data/processed/synthetic   # another dataset
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from src.features.validation import DataValidationError
from src.marketing.pipeline import run_measure

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict:
    return run_measure(OmegaConf.to_container(cfg, resolve=True))


@hydra.main(version_base="1.3", config_path="../conf", config_name="measure_campaigns")
def main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except (DataValidationError, FileNotFoundError, ValueError) as err:
        log.error("stopped: %s", err)
        sys.exit(2)


if __name__ == "__main__":
    main()
