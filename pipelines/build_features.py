"""Canonical tables -> demand panels, interactions, RFM / lifecycle stages.

python -m pipelines.build_features                      # reads data/processed
python -m pipelines.build_features paths.tables=DIR 'features.panels=[{level: sku, freq: W}]'
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig, OmegaConf

from src.features.build import build_features, write_features
from src.features.panel import PanelSpec
from src.features.report import format_features_summary
from src.features.tables import read_tables

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict[str, int]:
    f = OmegaConf.to_container(cfg.features, resolve=True)
    panels = [PanelSpec(holiday_country=f["holiday_country"], **p) for p in f["panels"]]
    tables = read_tables(cfg.paths.tables)
    features = build_features(tables, panels, f["interactions"], f["rfm"])
    output = write_features(features, cfg.paths.features)
    manifest = {name: len(df) for name, df in features.items()}
    print(format_features_summary(manifest, output), flush=True)
    return manifest


@hydra.main(version_base="1.3", config_path="../conf", config_name="build_features")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
