"""Canonical tables -> the feature store: demand panels, interactions, customers, catalog.

python -m pipelines.build_features                      # reads data/processed
python -m pipelines.build_features paths.tables=DIR 'features.panels=[{level: sku, freq: W}]'
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig, OmegaConf

from pipelines.entry import entry_point
from src.compute import with_backend
from src.features.build import build_features
from src.features.report import format_features_summary
from src.features.sets import from_config, open_store
from src.features.store import FeatureSet

log = logging.getLogger(__name__)


@with_backend
def run(cfg: DictConfig) -> list[FeatureSet]:
    features = OmegaConf.to_container(cfg.features, resolve=True)
    store = open_store(features, cfg.paths.features, cfg.paths.tables)
    built = build_features(store, from_config(features))
    print(format_features_summary(built, store.root), flush=True)
    return built


main = entry_point("build_features", run)


if __name__ == "__main__":
    main()
