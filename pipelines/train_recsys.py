"""Train, evaluate (temporal holdout), track, register and promote recommenders; write recs.

python -m pipelines.train_recsys
python -m pipelines.train_recsys 'recsys.train=[buy_again,hybrid]' recsys.cutoff=2011-11-12
python -m pipelines.train_recsys paths.tables=out/brand      # any ingested dataset
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig, OmegaConf

from pipelines.entry import entry_point
from src.compute import with_backend
from src.features.sets import open_store
from src.recsys.pipeline import recsys_task, train_recommenders
from src.tracking import TaskSpec

log = logging.getLogger(__name__)


@with_backend
def run(cfg: DictConfig) -> dict:
    config = OmegaConf.to_container(cfg, resolve=True)
    store = open_store(config["features"], cfg.paths.features, cfg.paths.tables)
    task = recsys_task(
        store, config["features"], config["recsys"], TaskSpec.from_config(config["tasks"]["recsys"])
    )
    return train_recommenders(task, config["recsys"], config["tracking"], config)


main = entry_point("train_recsys", run)


if __name__ == "__main__":
    main()
