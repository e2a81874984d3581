"""RFM scores and lifecycle stages of customers, for marketers and recommenders.

As of a date: **recency** = days since the last purchase, **frequency** = distinct orders,
**monetary** = net revenue (sales minus returns) of merchandise. Scores 1..``n_bins`` by quantile
(5 = best: most recent, most frequent, highest spend); ``rfm_score`` joins them ("545").

Lifecycle stage, in this order:

* ``new`` — first purchase within ``new_days``;
* ``active`` — last purchase within ``active_days``;
* ``at_risk`` — last purchase within ``at_risk_days``;
* ``dormant`` — longer ago.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from src.features import columns as C

STAGES = ("new", "active", "at_risk", "dormant")


def _score(values: pd.Series, n_bins: int, higher_is_better: bool) -> pd.Series:
    ranks = values.rank(method="first", ascending=higher_is_better)
    bins = np.ceil(ranks / len(values) * n_bins).clip(1, n_bins)
    return bins.astype("int8")


def rfm(
    transactions: pd.DataFrame,
    products: pd.DataFrame,
    *,
    as_of: str | pd.Timestamp | None = None,
    n_bins: int = 5,
    new_days: int = 30,
    active_days: int = 90,
    at_risk_days: int = 180,
) -> pd.DataFrame:
    tx = transactions[transactions[C.CUSTOMER_ID].notna()]
    tx = tx[tx[C.SKU].isin(products.loc[products[C.IS_MERCHANDISE], C.SKU])]
    as_of = (
        pd.Timestamp(as_of)
        if as_of is not None
        else tx[C.TS].max().normalize() + pd.Timedelta(days=1)
    )
    tx = tx[tx[C.TS] < as_of]
    sales = tx[tx[C.LINE_TYPE] == C.LINE_SALE]
    net = tx[tx[C.LINE_TYPE].isin([C.LINE_SALE, C.LINE_RETURN])]
    g = sales.groupby(C.CUSTOMER_ID, observed=True)
    out = pd.DataFrame(
        {
            C.FIRST_SEEN: g[C.TS].min(),
            C.LAST_SEEN: g[C.TS].max(),
            C.FREQUENCY: g[C.ORDER_ID].nunique(),
        }
    )
    out[C.MONETARY] = (
        (net[C.QTY] * net[C.UNIT_PRICE]).groupby(net[C.CUSTOMER_ID], observed=True).sum()
    )
    out[C.MONETARY] = out[C.MONETARY].fillna(0.0)
    out[C.RECENCY_DAYS] = (as_of - out[C.LAST_SEEN]).dt.total_seconds() / 86400.0
    if len(out):
        out[C.R_SCORE] = _score(out[C.RECENCY_DAYS], n_bins, higher_is_better=False)
        out[C.F_SCORE] = _score(out[C.FREQUENCY], n_bins, higher_is_better=True)
        out[C.M_SCORE] = _score(out[C.MONETARY], n_bins, higher_is_better=True)
    else:
        out[C.R_SCORE] = out[C.F_SCORE] = out[C.M_SCORE] = pd.Series(dtype="int8")
    out[C.RFM_SCORE] = (
        out[C.R_SCORE].astype(str) + out[C.F_SCORE].astype(str) + out[C.M_SCORE].astype(str)
    )
    age_first = (as_of - out[C.FIRST_SEEN]).dt.total_seconds() / 86400.0
    out[C.LIFECYCLE] = stage(age_first, out[C.RECENCY_DAYS], new_days, active_days, at_risk_days)
    out = out.rename_axis(C.CUSTOMER_ID).reset_index()
    return out[C.RFM].astype({C.CUSTOMER_ID: "string", C.LIFECYCLE: "string"})


def stage(
    days_since_first, days_since_last, new_days: int, active_days: int, at_risk_days: int
) -> np.ndarray:
    """The lifecycle stage of each customer (see the module doc), one rule for every caller."""
    if not new_days <= active_days <= at_risk_days:
        raise ValueError(
            "lifecycle thresholds must satisfy new_days <= active_days <= at_risk_days"
        )
    return np.select(
        [
            np.asarray(days_since_first) <= new_days,
            np.asarray(days_since_last) <= active_days,
            np.asarray(days_since_last) <= at_risk_days,
        ],
        list(STAGES[:3]),
        default=STAGES[3],
    )


def lifecycle_stages(
    interactions: pd.DataFrame,
    as_of: str | pd.Timestamp,
    *,
    new_days: int = 30,
    active_days: int = 90,
    at_risk_days: int = 180,
) -> dict[str, str]:
    """customer_id -> stage as of ``as_of``, from purchase events (the interactions feature).

    Point in time: only purchases before ``as_of`` count, so a holdout can ask for the stages its
    customers were in at the cut-off. Purchase days stand for purchase times; with whole-day
    thresholds the stages equal :func:`rfm`'s on the transactions.
    """
    as_of = pd.Timestamp(as_of)
    ev = interactions[interactions[C.TS] < as_of]
    g = ev.groupby(ev[C.CUSTOMER_ID].astype(str))[C.TS]
    first = (as_of - g.min()).dt.total_seconds() / 86400.0
    last = (as_of - g.max()).dt.total_seconds() / 86400.0
    stages = stage(first, last, new_days, active_days, at_risk_days)
    return dict(zip(first.index, stages, strict=True))
