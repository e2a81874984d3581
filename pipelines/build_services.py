"""Package the registry's champions as BentoML services, offline.

python -m pipelines.build_services                         # recsys@champion + forecast_sku_D@champion
(the registered models are the tasks' own: conf/tasks/recsys.yaml, conf/tasks/forecast.yaml)
python -m pipelines.build_services granularity=sku_location_daily serving.bentoml_home=/srv/bento
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from pipelines.entry import entry_point
from src.features.sets import open_store

log = logging.getLogger(__name__)


def recsys_sources(cfg: DictConfig):
    """The feature sets and stock table the recommendation bundle is built from."""
    from src.serve.package import RecsysSources

    features = OmegaConf.to_container(cfg.features, resolve=True)
    store = open_store(features, cfg.paths.features, cfg.paths.tables)
    return RecsysSources.from_store(store, features, cfg.paths.tables)


def run(cfg: DictConfig) -> dict:
    os.environ["BENTOML_HOME"] = str(Path(cfg.serving.bentoml_home).resolve())
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")  # offline: no usage analytics
    from src.serve.package import build_services, summary

    result = build_services(
        tracking_uri=cfg.tracking.uri,
        recsys=recsys_sources(cfg),
        paths=OmegaConf.to_container(cfg.paths, resolve=True),
        recsys_name=cfg.tasks.recsys.registered_model,
        forecast_name=cfg.tasks.forecast.registered_model,
        level=cfg.granularity.level,
        network_location=cfg.policy.network_location,
        channel_days=int(cfg.serving.channel_days),
        precompute_k=int(cfg.serving.precompute_k),
    )
    print(summary(result), flush=True)
    return result


main = entry_point("build_services", run)


if __name__ == "__main__":
    main()
