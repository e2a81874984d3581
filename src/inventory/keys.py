"""Series ids of the demand panel <-> the ``location_id, sku`` keys of stock and plans."""

from __future__ import annotations

import numpy as np
import pandas as pd

from src.features import columns as C
from src.outputs.ids import split_series_id

LEVELS = ("sku", "sku_location")


def split_ids(ids: np.ndarray, level: str, network_location: str) -> pd.DataFrame:
    """``unique_id`` -> ``unique_id, location_id, sku``.

    ``sku_location`` ids are ``SKU@location`` (split on the last ``@``); SKU-level ids stand for
    the whole network and get ``network_location``.
    """
    if level not in LEVELS:
        raise ValueError(f"stock keys exist for levels {LEVELS}, not {level!r}")
    ids = pd.Series(ids, dtype="string")
    if level == "sku_location":
        sku, loc = split_series_id(ids, 2)
    else:
        sku, loc = ids, pd.Series(network_location, index=ids.index, dtype="string")
    return pd.DataFrame({C.UNIQUE_ID: ids, C.LOCATION_ID: loc, C.SKU: sku})
