"""Models from configuration: named entries ``{name: {_target_: class, **params}}`` -> objects.

The class comes from Hydra (``get_class`` of ``_target_``); ``common`` arguments go to every model
(a forecaster's ``freq`` and ``quantiles``); an entry may name other entries under a reference key
(an ensemble's ``members``, a hybrid's ``candidates``): they arrive as ``{name: factory}``, so the
composite builds fresh copies whenever it fits. One builder for forecasters and recommenders.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial

from hydra.utils import get_class


def build(
    name: str,
    entries: Mapping[str, Mapping],
    common: Mapping | None = None,
    refs: Sequence[str] = (),
):
    if name not in entries:
        raise KeyError(f"model '{name}' is not configured; known: {sorted(entries)}")
    spec = dict(entries[name])
    if "_target_" not in spec:
        raise KeyError(f"model '{name}' has no _target_ (the class to build)")
    cls = get_class(spec.pop("_target_"))
    for key in refs:
        if key in spec:
            spec[key] = {n: partial(build, n, entries, common, refs) for n in spec[key]}
    return cls(**{**dict(common or {}), **spec})


def factories(
    names: Sequence[str],
    entries: Mapping[str, Mapping],
    common: Mapping | None = None,
    refs: Sequence[str] = (),
) -> dict[str, Callable]:
    """``{name: factory}``; every name is built once here so a typo fails before any training."""
    for n in names:
        build(n, entries, common, refs)
    return {n: partial(build, n, entries, common, refs) for n in names}


def with_params(entries: Mapping[str, Mapping], name: str, params: Mapping) -> dict:
    """``entries`` with ``params`` overriding the configured arguments of ``name`` (tuning)."""
    return {**entries, name: {**dict(entries[name]), **dict(params)}}
