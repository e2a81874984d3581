"""Business rules applied at recommend time, as masks over a model's item index.

* ``in_stock_only`` — only SKUs with on-hand stock in the latest inventory snapshot (at any
  location, or at the given ``location_id``);
* merchandise only — never postage, fees, vouchers or adjustments;
* ``exclude_skus`` — never these;
* per-channel availability — only SKUs sold in the channel during the last ``channel_days``
  (:func:`src.features.sets.channel_skus`, from the catalog feature set).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from src.features import columns as C


def in_stock_skus(inventory: pd.DataFrame, location_id: str | None = None) -> set[str]:
    if inventory is None or inventory.empty:
        return set()
    latest = inventory[inventory[C.AS_OF] == inventory[C.AS_OF].max()]
    if location_id is not None:
        latest = latest[latest[C.LOCATION_ID] == location_id]
    return set(latest.loc[latest[C.ON_HAND] > 0, C.SKU].astype(str))


def allowed_items(
    items: pd.Index,
    products: pd.DataFrame,
    *,
    inventory: pd.DataFrame | None = None,
    in_stock_only: bool = False,
    location_id: str | None = None,
    channel_available: Iterable[str] | None = None,
) -> np.ndarray:
    """Boolean mask over ``items``: merchandise, and in stock / in the channel when asked."""
    merch = set(products.loc[products[C.IS_MERCHANDISE], C.SKU].astype(str))
    mask = items.isin(list(merch))
    if in_stock_only:
        mask &= items.isin(list(in_stock_skus(inventory, location_id)))
    if channel_available is not None:
        mask &= items.isin(list(channel_available))
    return np.asarray(mask, dtype=bool)
