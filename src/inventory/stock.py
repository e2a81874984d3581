"""Stock positions: the latest record per location x SKU of the canonical ``inventory`` table."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from src.features import columns as C
from src.features.tables import conform, table_files

log = logging.getLogger(__name__)
BACKORDERS = "backorders"


def read_inventory(tables_dir: str | Path) -> pd.DataFrame:
    """The canonical inventory table (stock is read fresh, never from features)."""
    files = table_files(tables_dir, "inventory")
    if files is None:
        raise FileNotFoundError(
            f"{tables_dir}: no inventory table; run `python -m pipelines.ingest` (an empty table "
            "is written when the data has no stock)"
        )
    raw = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    out = conform("inventory", raw)
    if BACKORDERS in raw:  # optional column of a brand's snapshot
        out[BACKORDERS] = pd.to_numeric(raw[BACKORDERS], errors="coerce")
    return out


def positions(keys: pd.DataFrame, inventory: pd.DataFrame, network_location: str) -> pd.DataFrame:
    """``on_hand, on_order, backorders, inventory_known`` per row of ``keys`` (``location_id,
    sku``); rows of the network location (SKU-level plans) sum every location's stock. Rows
    without a record get zeros and ``inventory_known = False`` (and a warning)."""
    out = pd.DataFrame(
        {"on_hand": 0.0, "on_order": 0.0, BACKORDERS: 0.0, "inventory_known": False},
        index=keys.index,
    )
    if len(inventory) == 0:
        log.warning(
            "no inventory records: on hand taken as 0 for all %d rows — load an inventory snapshot "
            "(see README, 'Inventory input') for suggestions against real stock",
            len(keys),
        )
        return out
    latest = inventory.sort_values(C.AS_OF).groupby([C.LOCATION_ID, C.SKU], as_index=False).last()
    if (keys[C.LOCATION_ID] == network_location).all():
        latest = latest.groupby(C.SKU, as_index=False)[[C.ON_HAND, C.ON_ORDER]].sum()
        m = keys[[C.SKU]].merge(latest, on=C.SKU, how="left", indicator=True)
    else:
        m = keys[[C.LOCATION_ID, C.SKU]].merge(
            latest, on=[C.LOCATION_ID, C.SKU], how="left", indicator=True
        )
    out["on_hand"] = m[C.ON_HAND].fillna(0.0).to_numpy(float)
    out["on_order"] = m[C.ON_ORDER].fillna(0.0).to_numpy(float)
    out[BACKORDERS] = m[BACKORDERS].fillna(0.0).to_numpy(float) if BACKORDERS in m else 0.0
    out["inventory_known"] = (m["_merge"] == "both").to_numpy()
    unknown = int((~out["inventory_known"]).sum())
    if unknown:
        log.warning(
            "%d of %d location x SKU rows have no stock record: on hand taken as 0",
            unknown,
            len(keys),
        )
    return out
