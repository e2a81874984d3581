"""Forecasters from configuration: ``{name: {_target_: class, **params}}`` -> factories.

An entry whose target is :class:`~src.forecast.ensemble.Ensemble` names its members; they are
built from their own entries. Every model gets the task's ``freq`` and ``quantiles``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence

from src.forecast.base import Forecaster
from src.forecast.ensemble import Ensemble


def _class(target: str):
    module, _, name = target.rpartition(".")
    return getattr(importlib.import_module(module), name)


def build(
    name: str, models: Mapping[str, Mapping], freq: str, quantiles: Sequence[float]
) -> Forecaster:
    if name not in models:
        raise KeyError(f"forecast model '{name}' is not configured; known: {sorted(models)}")
    spec = dict(models[name])
    cls = _class(spec.pop("_target_"))
    if cls is Ensemble:
        members = [build(m, models, freq, quantiles) for m in spec.pop("members")]
        return Ensemble(members, freq=freq, **spec)
    return cls(freq=freq, quantiles=tuple(quantiles), **spec)


def factories(
    names: Sequence[str], models: Mapping[str, Mapping], freq: str, quantiles: Sequence[float]
) -> dict[str, Callable[[], Forecaster]]:
    for n in names:  # fail before any training if a name is wrong
        build(n, models, freq, quantiles)
    return {n: (lambda n=n: build(n, models, freq, quantiles)) for n in names}
