"""Build every configured feature set from the canonical tables into the feature store."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from src.features.sets import FeatureSpec
from src.features.store import FeatureSet, FeatureStore

log = logging.getLogger(__name__)


def build_features(store: FeatureStore, specs: Sequence[FeatureSpec]) -> list[FeatureSet]:
    """A new version of each spec (always rebuilt: this is the step that refreshes features)."""
    built = []
    for i, spec in enumerate(specs, 1):
        log.info("[feature set %d/%d] %s", i, len(specs), spec.describe())
        built.append(store.build(spec))
    return built


def run_build_features(config: Mapping) -> list[FeatureSet]:
    """`make features`: every configured feature set built (or found) in the store."""
    from src.features.report import format_features_summary
    from src.features.sets import from_config, open_store

    features, paths = config["features"], config["paths"]
    store = open_store(features, paths["features"], paths["tables"])
    built = build_features(store, from_config(features))
    print(format_features_summary(built, store.root), flush=True)
    return built
