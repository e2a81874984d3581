"""The one series-id encoding: a demand series of several keys is ``key1@key2`` (SKU x location:
``SKU@location``; category x location: ``category@location``).

Every producer (the demand panels) and every consumer (plans, the monitor's actuals, the console,
the planner service) builds and splits ids here, so a forecast of ``sku_location`` series meets
its actuals wherever it is read. Ids are split on the *last* separator: a SKU may contain ``@``,
a location id may not (the ingest's location ids are codes).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

SEPARATOR = "@"


def series_id(frame: pd.DataFrame, keys: Sequence[str]) -> pd.Series:
    """The series id of each row of ``frame`` from its ``keys`` columns (in order)."""
    uid = frame[keys[0]].astype(str)
    for key in keys[1:]:
        uid = uid + SEPARATOR + frame[key].astype(str)
    return uid


def join_id(*parts: str) -> str:
    """One series id from its key values (the planner service's lookups)."""
    return SEPARATOR.join(str(p) for p in parts)


def split_series_id(ids, n_keys: int = 2) -> list[pd.Series]:
    """The key columns of each id, split on the last ``n_keys - 1`` separators (string dtype);
    an id of a single key comes back as one column."""
    ids = pd.Series(ids, dtype="string")
    if n_keys <= 1:
        return [ids]
    parts = ids.str.rsplit(SEPARATOR, n=n_keys - 1, expand=True)
    return [parts[i].astype("string") for i in range(n_keys)]


def first_key(ids) -> pd.Series:
    """The first key (the SKU of a ``sku`` or ``sku_location`` id)."""
    ids = pd.Series(ids, dtype="string")
    return ids.str.rsplit(SEPARATOR, n=1).str[0].where(ids.str.contains(SEPARATOR), ids)
