"""Recommenders from configuration; a hybrid names its candidate models."""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from src.recsys.base import Recommender
from src.recsys.hybrid import Hybrid


def build(name: str, models: Mapping[str, Mapping]) -> Recommender:
    if name not in models:
        raise KeyError(f"recommender '{name}' is not configured; known: {sorted(models)}")
    spec = dict(models[name])
    module, _, cls_name = spec.pop("_target_").rpartition(".")
    cls = getattr(importlib.import_module(module), cls_name)
    if cls is Hybrid:
        names = spec.pop("candidates")
        return Hybrid({n: (lambda n=n: build(n, models)) for n in names}, **spec)
    return cls(**spec)
