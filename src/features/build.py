"""Build every configured feature set from the canonical tables into the feature store."""

from __future__ import annotations

import logging
from collections.abc import Sequence

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
