"""Audiences that trigger: win-back, VIP, at-risk, new-customer nurture (conf/audiences).

python -m pipelines.audiences                         # after make run (uses CLV, stages, recs)
python -m pipelines.audiences audiences.opt_out_file=optouts.csv audiences.holdout_share=0.2
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig, OmegaConf

from pipelines.entry import entry_point
from src.marketing.pipeline import run_audiences

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict:
    return run_audiences(OmegaConf.to_container(cfg, resolve=True))


main = entry_point("audiences", run)


if __name__ == "__main__":
    main()
