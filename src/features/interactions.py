"""Interaction table for recommenders: ``customer_id, sku, weight, ts``.

One row per customer x SKU bought before ``as_of``. ``weight`` sums each purchase's value
(``count`` of order lines, ``qty`` units or ``revenue``) times a recency decay
``0.5 ** (age_days / half_life_days)`` (no decay when ``half_life_days`` is null); ``ts`` is the
last purchase. Anonymous lines, non-merchandise and non-sale lines are left out; with
``net_returns`` the returned value is subtracted and pairs with nothing left are removed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from src.features import columns as C

VALUES = ("count", "qty", "revenue")


def interactions(
    transactions: pd.DataFrame,
    products: pd.DataFrame,
    *,
    as_of: str | pd.Timestamp | None = None,
    value: str = "count",
    half_life_days: float | None = 90.0,
    net_returns: bool = False,
) -> pd.DataFrame:
    if value not in VALUES:
        raise ValueError(f"interaction value '{value}' unknown; choose one of {VALUES}")
    tx = transactions[transactions[C.CUSTOMER_ID].notna()]
    tx = tx[tx[C.SKU].isin(products.loc[products[C.IS_MERCHANDISE], C.SKU])]
    as_of = pd.Timestamp(as_of) if as_of is not None else tx[C.TS].max() + pd.Timedelta(seconds=1)
    tx = tx[tx[C.TS] < as_of]
    kinds = [C.LINE_SALE, C.LINE_RETURN] if net_returns else [C.LINE_SALE]
    tx = tx[tx[C.LINE_TYPE].isin(kinds)]
    if value == "count":
        v = np.sign(tx[C.QTY].to_numpy())
    elif value == "qty":
        v = tx[C.QTY].to_numpy()
    else:
        v = (tx[C.QTY] * tx[C.UNIT_PRICE]).to_numpy()
    if half_life_days:
        age = (as_of - tx[C.TS]).dt.total_seconds().to_numpy() / 86400.0
        v = v * np.power(0.5, age / float(half_life_days))
    frame = pd.DataFrame(
        {
            C.CUSTOMER_ID: tx[C.CUSTOMER_ID].to_numpy(),
            C.SKU: tx[C.SKU].to_numpy(),
            C.WEIGHT: v,
            C.TS: tx[C.TS].to_numpy(),
        }
    )
    out = frame.groupby([C.CUSTOMER_ID, C.SKU], observed=True, sort=True).agg(
        **{C.WEIGHT: (C.WEIGHT, "sum"), C.TS: (C.TS, "max")}
    )
    out = out[out[C.WEIGHT] > 0].reset_index()
    return out[C.INTERACTIONS].astype({C.CUSTOMER_ID: "string", C.SKU: "string"})


def purchase_events(
    transactions: pd.DataFrame,
    products: pd.DataFrame,
    *,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Event-level interactions: one row per customer x SKU x purchase day (``weight`` = 1).

    Merchandise sale lines with a customer, ``start <= ts < end``. Models that need the timing
    of every purchase (buy-again recency, the hybrid's label window) read these; the aggregated
    :func:`interactions` table is the same contract with one row per pair.
    """
    tx = transactions[
        transactions[C.CUSTOMER_ID].notna() & (transactions[C.LINE_TYPE] == C.LINE_SALE)
    ]
    tx = tx[tx[C.SKU].isin(products.loc[products[C.IS_MERCHANDISE], C.SKU])]
    if start is not None:
        tx = tx[tx[C.TS] >= pd.Timestamp(start)]
    if end is not None:
        tx = tx[tx[C.TS] < pd.Timestamp(end)]
    ev = pd.DataFrame(
        {
            C.CUSTOMER_ID: tx[C.CUSTOMER_ID].astype(str).to_numpy(),
            C.SKU: tx[C.SKU].astype(str).to_numpy(),
            C.TS: tx[C.TS].dt.normalize().to_numpy(),
        }
    ).drop_duplicates()
    ev[C.WEIGHT] = 1.0
    return ev[C.INTERACTIONS].reset_index(drop=True)
