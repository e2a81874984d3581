"""AIPL life-cycle stages per customer and period, and the flows between them.

The AIPL model retail marketers use — **A**\\ wareness → **I**\\ nterest → **P**\\ urchase →
**L**\\ oyalty — evaluated at the end of every period (month by default) from purchases and
engagement events, the highest stage that qualifies winning:

* ``loyalty`` — at least ``loyalty_orders`` distinct orders within ``loyalty_days``;
* ``purchase`` — an order within ``purchase_days``;
* ``interest`` — active engagement (view, add to cart, wishlist, coupon redeemed) within
  ``interest_days``;
* ``awareness`` — a passive contact (a campaign exposure) within ``awareness_days``;
* ``inactive`` — none of these (known, but gone quiet).

A customer enters the table in the period of their first contact (purchase or event). The flows
table counts customers by (previous stage, stage) for every pair of consecutive periods;
``new`` is the previous stage of customers in their first period.

Counting is vectorised: each (customer, day) of a kind is one key in a sorted array, and the
number in a window is two ``searchsorted`` calls for all customers and periods at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from src.features import columns as C

AIPL_STAGES = ("inactive", "awareness", "interest", "purchase", "loyalty")  # low -> high
NEW = "new"
PERIOD, STAGE, FROM, TO, CUSTOMERS = "period", "stage", "from_stage", "to_stage", "customers"
ACTIVE_EVENTS = (C.EVENT_VIEW, C.EVENT_CART, C.EVENT_WISHLIST, C.EVENT_COUPON)
PASSIVE_EVENTS = (C.EVENT_EXPOSURE,)


@dataclass(frozen=True)
class AiplWindows:
    period: str = "MS"
    awareness_days: int = 90
    interest_days: int = 30
    purchase_days: int = 180
    loyalty_days: int = 365
    loyalty_orders: int = 2

    def __post_init__(self):
        days = (self.awareness_days, self.interest_days, self.purchase_days, self.loyalty_days)
        if min(days) <= 0 or self.loyalty_orders < 2:
            raise ValueError(
                "AIPL windows must be positive days and loyalty_orders at least 2 (a repeat)"
            )


def _counter(customers: np.ndarray, days: np.ndarray):
    """count(c, lo, hi) = number of (customer c, day d) with lo < d <= hi, vectorised."""
    span = np.int64(1 << 32)
    keys = np.sort(customers.astype(np.int64) * span + days.astype(np.int64))

    def count(c: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        base = c.astype(np.int64) * span
        return np.searchsorted(keys, base + hi, "right") - np.searchsorted(keys, base + lo, "right")

    return count


def aipl_stages(
    transactions: pd.DataFrame,
    events: pd.DataFrame | None,
    windows: AiplWindows = AiplWindows(),
    end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """``customer_id, period, stage`` for every customer from their first contact's period."""
    sales = transactions[
        (transactions[C.LINE_TYPE] == C.LINE_SALE) & transactions[C.CUSTOMER_ID].notna()
    ]
    orders = sales.drop_duplicates(C.ORDER_ID)[[C.CUSTOMER_ID, C.TS]]
    if events is None:
        events = pd.DataFrame({C.CUSTOMER_ID: pd.Series(dtype="string"),
                               C.TS: pd.Series(dtype="datetime64[ns]"),
                               C.EVENT: pd.Series(dtype="string")})  # fmt: skip
    ev = events
    ev = ev[ev[C.CUSTOMER_ID].notna()]
    times = [orders[C.TS], ev[C.TS]]
    if sum(len(t) for t in times) == 0:
        return pd.DataFrame({C.CUSTOMER_ID: pd.Series(dtype="string"),
                             PERIOD: pd.Series(dtype="datetime64[ns]"),
                             STAGE: pd.Series(dtype="string")})  # fmt: skip
    ids = pd.Index(
        pd.concat([orders[C.CUSTOMER_ID], ev[C.CUSTOMER_ID]]).astype(str).unique()
    ).sort_values()
    epoch = pd.Timestamp("1970-01-01")

    def day(ts: pd.Series) -> np.ndarray:
        return ((ts.dt.normalize() - epoch) // pd.Timedelta(days=1)).to_numpy(np.int64)

    def code(cust: pd.Series) -> np.ndarray:
        return ids.get_indexer(cust.astype(str))

    all_ts = pd.concat(times)
    last = (end or all_ts.max()).normalize()
    offset = pd.tseries.frequencies.to_offset(windows.period)
    starts = pd.date_range(offset.rollback(all_ts.min().normalize()), last, freq=offset)
    period_end = np.minimum(
        ((starts + offset - pd.Timedelta(days=1)) - epoch) // pd.Timedelta(days=1),
        (last - epoch) // pd.Timedelta(days=1),
    ).to_numpy(np.int64)

    # the first period of each customer
    first = pd.concat(
        [pd.DataFrame({"c": code(orders[C.CUSTOMER_ID]), "d": day(orders[C.TS])}),
         pd.DataFrame({"c": code(ev[C.CUSTOMER_ID]), "d": day(ev[C.TS])})]
    ).groupby("c")["d"].min()  # fmt: skip
    first_period = np.searchsorted(period_end, first.to_numpy(), "left")
    n_periods = len(starts)
    reps = n_periods - first_period
    cust = np.repeat(first.index.to_numpy(), reps)
    per = np.concatenate([np.arange(f, n_periods) for f in first_period]) if len(reps) else []
    per = np.asarray(per, dtype=np.int64)
    t = period_end[per]

    order_count = _counter(code(orders[C.CUSTOMER_ID]), day(orders[C.TS]))
    active = ev[ev[C.EVENT].isin(ACTIVE_EVENTS)]
    passive = ev[ev[C.EVENT].isin(PASSIVE_EVENTS)]
    active_count = _counter(code(active[C.CUSTOMER_ID]), day(active[C.TS]))
    passive_count = _counter(code(passive[C.CUSTOMER_ID]), day(passive[C.TS]))

    stage = np.zeros(len(cust), dtype=np.int8)  # inactive
    w = windows
    stage = np.where(passive_count(cust, t - w.awareness_days, t) > 0, 1, stage)
    stage = np.where(active_count(cust, t - w.interest_days, t) > 0, 2, stage)
    stage = np.where(order_count(cust, t - w.purchase_days, t) > 0, 3, stage)
    stage = np.where(order_count(cust, t - w.loyalty_days, t) >= w.loyalty_orders, 4, stage)
    return pd.DataFrame(
        {
            C.CUSTOMER_ID: pd.array(ids[cust], dtype="string"),
            PERIOD: starts[per].astype("datetime64[ns]"),
            STAGE: pd.array(np.asarray(AIPL_STAGES)[stage], dtype="string"),
        }
    )


def aipl_flows(stages: pd.DataFrame) -> pd.DataFrame:
    """``period, from_stage, to_stage, customers``: moves between consecutive periods
    (``new`` for customers in their first period)."""
    s = stages.sort_values([C.CUSTOMER_ID, PERIOD], kind="stable")
    prev = s.groupby(C.CUSTOMER_ID, observed=True)[STAGE].shift(1)
    moves = pd.DataFrame({PERIOD: s[PERIOD], FROM: prev.fillna(NEW).astype("string"),
                          TO: s[STAGE]})  # fmt: skip
    out = moves.groupby([PERIOD, FROM, TO], observed=True).size().rename(CUSTOMERS).reset_index()
    out[CUSTOMERS] = out[CUSTOMERS].astype("int64")
    return out


def transition_matrix(flows: pd.DataFrame, period: pd.Timestamp | None = None) -> pd.DataFrame:
    """Share of each previous stage moving to each stage (rows sum to 1), in one period or
    over all of them."""
    f = flows if period is None else flows[flows[PERIOD] == pd.Timestamp(period)]
    m = f.pivot_table(index=FROM, columns=TO, values=CUSTOMERS, aggfunc="sum", fill_value=0)
    order = [NEW, *AIPL_STAGES]
    m = m.reindex(index=[s for s in order if s in m.index],
                  columns=[s for s in AIPL_STAGES if s in m.columns])  # fmt: skip
    return m.div(m.sum(axis=1), axis=0)
