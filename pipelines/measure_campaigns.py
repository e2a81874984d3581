"""Did each campaign pay? Effects with intervals, ROI, power, uplift models (conf/measure).

python -m pipelines.measure_campaigns                                  # after ingest
python -m pipelines.measure_campaigns measure.attribution_days=14 measure.margin_rate=0.4
python -m pipelines.measure_campaigns paths.output=data/processed/synthetic   # another dataset
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig, OmegaConf

from pipelines.entry import entry_point
from src.marketing.pipeline import run_measure

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict:
    return run_measure(OmegaConf.to_container(cfg, resolve=True))


main = entry_point("measure_campaigns", run)


if __name__ == "__main__":
    main()
