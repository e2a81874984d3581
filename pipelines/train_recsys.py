"""Train, evaluate (temporal holdout), track, register and promote recommenders; write recs.

python -m pipelines.train_recsys
python -m pipelines.train_recsys 'recsys.train=[buy_again,hybrid]' recsys.cutoff=2011-11-12
python -m pipelines.train_recsys paths.tables=out/brand      # any ingested dataset
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from src.recsys.pipeline import train_recommenders


def run(cfg: DictConfig) -> dict:
    config = OmegaConf.to_container(cfg, resolve=True)
    return train_recommenders(
        cfg.paths.tables, config["recsys"], config["tracking"], cfg.paths.recommendations, config
    )


@hydra.main(version_base="1.3", config_path="../conf", config_name="train_recsys")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
