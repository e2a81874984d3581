"""Customer lifetime value (BG/NBD + Gamma-Gamma): holdout evaluation tracked, values written.

python -m pipelines.clv                                   # conf/clv (holdout: the last 182 days)
python -m pipelines.clv clv.calibration_end=2011-06-01 clv.model=pareto_nbd
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from src.features.validation import DataValidationError
from src.marketing.pipeline import run_clv

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict:
    return run_clv(OmegaConf.to_container(cfg, resolve=True))


@hydra.main(version_base="1.3", config_path="../conf", config_name="clv")
def main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except (DataValidationError, FileNotFoundError, ValueError) as err:
        log.error("stopped: %s", err)
        sys.exit(2)


if __name__ == "__main__":
    main()
