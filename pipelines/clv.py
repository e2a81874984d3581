"""Customer lifetime value (BG/NBD + Gamma-Gamma): holdout evaluation tracked, values written.

python -m pipelines.clv                                   # conf/clv (holdout: the last 182 days)
python -m pipelines.clv clv.calibration_end=2011-06-01 clv.model=pareto_nbd
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig, OmegaConf

from pipelines.entry import entry_point
from src.marketing.pipeline import run_clv

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict:
    return run_clv(OmegaConf.to_container(cfg, resolve=True))


main = entry_point("clv", run)


if __name__ == "__main__":
    main()
