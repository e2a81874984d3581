"""Interactions for recommenders: ``customer_id, sku, weight, ts`` — one row per purchase.

One row per customer x SKU x purchase day (``ts`` = the day) on merchandise sale lines with a
customer id. ``weight`` is the purchase's value: ``count`` (1 per day the item was bought),
``qty`` (units) or ``revenue`` (units x price). Models sum the rows of a pair into their
customer x item matrix and read the timing of every purchase from ``ts`` (buy-again recency,
the hybrid's label window, the temporal holdout); anything time-decayed is the model's business,
relative to its own training end.

Rows come in one canonical order (``ts``, ``customer_id``, ``sku``) so that every model sees the
same customer and item index however the table was stored or partitioned.
"""

from __future__ import annotations

import pandas as pd

from src.features import columns as C

VALUES = ("count", "qty", "revenue")
ORDER = [C.TS, C.CUSTOMER_ID, C.SKU]


def interactions(
    transactions: pd.DataFrame,
    products: pd.DataFrame,
    *,
    value: str = "count",
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Purchase events ``start <= ts < end`` (see the module doc)."""
    if value not in VALUES:
        raise ValueError(f"interaction value '{value}' unknown; choose one of {VALUES}")
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
    )
    if value == "count":
        ev = ev.drop_duplicates().assign(**{C.WEIGHT: 1.0})
    else:
        qty = tx[C.QTY].to_numpy(float)
        ev[C.WEIGHT] = qty if value == "qty" else qty * tx[C.UNIT_PRICE].to_numpy(float)
        ev = ev.groupby(ORDER, as_index=False, sort=False)[C.WEIGHT].sum()
    ev = ev.sort_values(ORDER, kind="stable", ignore_index=True)
    return ev[C.INTERACTIONS]
