"""Audiences that trigger: win-back, VIP, at-risk, new-customer nurture (conf/audiences).

python -m pipelines.audiences                         # after make run (uses CLV, stages, recs)
python -m pipelines.audiences audiences.opt_out_file=optouts.csv audiences.holdout_share=0.2
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from src.features.store import FeatureSetMissing
from src.features.validation import DataValidationError
from src.marketing.pipeline import run_audiences

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict:
    return run_audiences(OmegaConf.to_container(cfg, resolve=True))


@hydra.main(version_base="1.3", config_path="../conf", config_name="audiences")
def main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except (DataValidationError, FeatureSetMissing, FileNotFoundError, ValueError) as err:
        log.error("stopped: %s", err)
        sys.exit(2)


if __name__ == "__main__":
    main()
