"""Demand panel: canonical transactions -> ``unique_id, ds, y`` + covariates, and ``static_df``.

* **level** — ``sku``, ``sku_location`` or ``category_location`` (``unique_id`` is the SKU,
  ``SKU@location`` or ``category@location``);
* **freq** — ``D`` (day), ``W`` (weeks starting Monday) or ``MS`` (calendar months);
* **y** — units sold on merchandise sale lines (returns are not negative demand; set
  ``include_returns`` to net them out), zero-filled from each series' first sale (or from the
  panel's first period with ``start="global"``) to the panel's last period;
* **covariates** — ``price`` (realised average unit price, carried forward over periods without
  sales), ``price_ratio`` (price / the series' median price: a discount signal), ``promo``
  (share of units sold on promotion), calendar (``dow``, ``week``, ``month``, ``day``) and
  ``holiday`` (public holidays of ``holiday_country`` in the period, from ``holidays``).
"""

from __future__ import annotations

from dataclasses import dataclass

import holidays as holidays_lib
import numpy as np
import pandas as pd

from src.features import columns as C
from src.outputs.ids import series_id

LEVELS = {
    "sku": [C.SKU],
    "sku_location": [C.SKU, C.LOCATION_ID],
    "category_location": [C.CATEGORY, C.LOCATION_ID],
}
FREQS = {"D": "D", "W": "W-SUN", "MS": "M"}  # panel freq -> pandas Period freq


@dataclass(frozen=True)
class PanelSpec:
    level: str = "sku"
    freq: str = "D"
    include_returns: bool = False
    merchandise_only: bool = True
    start: str = "first_sale"  # or "global"
    end: str | None = None  # last period (default: last transaction)
    holiday_country: str | None = "GB"
    # sales reversed by a linked return of the same SKU within this many days are cancellations,
    # not demand (UCI: 80,995 units of 23843 sold and cancelled 12 minutes later); None keeps them
    cancellation_days: float | None = 1.0

    def __post_init__(self):
        if self.level not in LEVELS:
            raise ValueError(f"panel level '{self.level}' unknown; choose one of {list(LEVELS)}")
        if self.freq not in FREQS:
            raise ValueError(f"panel freq '{self.freq}' unknown; choose one of {list(FREQS)}")
        if self.start not in ("first_sale", "global"):
            raise ValueError("panel start must be 'first_sale' or 'global'")

    @property
    def name(self) -> str:
        return f"{self.level}_{self.freq}"


def period_start(ts: pd.Series, freq: str) -> pd.Series:
    return ts.dt.to_period(FREQS[freq]).dt.start_time


def calendar_features(ds: pd.Series, freq: str, holiday_country: str | None) -> pd.DataFrame:
    """Known-in-advance covariates for each period start in ``ds``."""
    uniq = pd.Series(pd.unique(ds)).sort_values(ignore_index=True)
    cal = pd.DataFrame({C.DS: uniq})
    cal["month"] = uniq.dt.month.astype("int8")
    if freq in ("D", "W"):
        cal["week"] = uniq.dt.isocalendar().week.astype("int8").to_numpy()
    if freq == "D":
        cal["dow"] = uniq.dt.dayofweek.astype("int8")
        cal["day"] = uniq.dt.day.astype("int8")
    if holiday_country and uniq.empty:  # an empty partition of a partitioned build
        cal["holiday"] = pd.Series(dtype="int8")
    elif holiday_country:
        years = range(uniq.min().year, uniq.max().year + 2)
        days = pd.DatetimeIndex(
            list(holidays_lib.country_holidays(holiday_country, years=years).keys())
        )
        hol = pd.Series(1, index=period_start(pd.Series(days), freq)).groupby(level=0).sum()
        cal["holiday"] = cal[C.DS].map(hol).fillna(0).astype("int8")
    return cal


def kept_share(transactions: pd.DataFrame, sales: pd.DataFrame, days: float) -> np.ndarray:
    """Per sale line, the share of its quantity not cancelled by a linked return within ``days``.

    Returns are matched to sales by ``linked_order_id -> order_id`` and SKU; a cancellation
    reduces all lines of that order and SKU in proportion, never below zero.
    """
    ret = transactions[
        (transactions[C.LINE_TYPE] == C.LINE_RETURN) & transactions[C.LINKED_ORDER_ID].notna()
    ]
    share = np.ones(len(sales))
    if ret.empty or sales.empty:
        return share
    sold = sales.groupby([C.ORDER_ID, C.SKU], observed=True).agg(
        sold=(C.QTY, "sum"), sale_ts=(C.TS, "min")
    )
    r = ret.assign(returned=-ret[C.QTY])[[C.LINKED_ORDER_ID, C.SKU, C.TS, "returned"]]
    m = r.merge(sold, left_on=[C.LINKED_ORDER_ID, C.SKU], right_index=True, how="inner")
    lag = m[C.TS] - m["sale_ts"]
    m = m[(lag >= pd.Timedelta(0)) & (lag <= pd.Timedelta(days=days))]
    if m.empty:
        return share
    cancelled = m.groupby([C.LINKED_ORDER_ID, C.SKU], observed=True)["returned"].sum()
    cancelled.index = cancelled.index.set_names([C.ORDER_ID, C.SKU])
    frac = (1.0 - cancelled / sold["sold"].reindex(cancelled.index)).clip(lower=0.0)
    key = pd.MultiIndex.from_frame(sales[[C.ORDER_ID, C.SKU]])
    return frac.reindex(key).fillna(1.0).to_numpy(float)


def demand_lines(
    transactions: pd.DataFrame, products: pd.DataFrame, spec: PanelSpec
) -> pd.DataFrame:
    """The transaction lines that count as demand for ``spec`` (merchandise, sales)."""
    tx = transactions
    if spec.merchandise_only:
        merch = products.loc[products[C.IS_MERCHANDISE], C.SKU]
        tx = tx[tx[C.SKU].isin(merch)]
    wanted = [C.LINE_SALE, C.LINE_RETURN] if spec.include_returns else [C.LINE_SALE]
    tx = tx[tx[C.LINE_TYPE].isin(wanted)]
    if not spec.include_returns:
        tx = tx[tx[C.QTY] > 0]
    return tx


def panel_bounds(
    transactions: pd.DataFrame, products: pd.DataFrame, spec: PanelSpec
) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """First and last period of ``spec``'s panel over these transactions (None: no demand).

    A panel built one partition at a time takes the bounds over all partitions, so every
    partition shares the grid the whole table would have had."""
    ts = demand_lines(transactions, products, spec)[C.TS]
    if ts.empty:
        return None
    ds = period_start(pd.Series([ts.min(), ts.max()]), spec.freq)
    return ds.iat[0], ds.iat[1]


def demand_panel(
    transactions: pd.DataFrame,
    products: pd.DataFrame,
    spec: PanelSpec,
    bounds: tuple[pd.Timestamp, pd.Timestamp] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build ``(panel, static_df)`` for ``spec`` from canonical transactions and products.

    ``bounds``: the panel's first and last period when ``transactions`` is one partition of a
    larger table (see :func:`panel_bounds`); by default they come from ``transactions``.
    """
    tx = demand_lines(transactions, products, spec)
    keys = LEVELS[spec.level]
    cols = [C.TS, C.SKU, C.LOCATION_ID, C.QTY, C.UNIT_PRICE, C.PROMO]
    frame = tx[cols].copy()
    if spec.cancellation_days is not None and not spec.include_returns:
        frame[C.QTY] = frame[C.QTY] * kept_share(transactions, tx, spec.cancellation_days)
    if C.CATEGORY in keys:
        frame[C.CATEGORY] = frame[C.SKU].map(products.set_index(C.SKU)[C.CATEGORY]).fillna("OTHER")
    frame[C.DS] = period_start(frame[C.TS], spec.freq)
    frame[C.UNIQUE_ID] = series_id(frame, keys)
    frame["revenue"] = frame[C.QTY] * frame[C.UNIT_PRICE]
    frame["promo_qty"] = frame[C.QTY].where(frame[C.PROMO], 0.0)
    agg = frame.groupby([C.UNIQUE_ID, C.DS], observed=True, sort=False)[
        [C.QTY, "revenue", "promo_qty"]
    ].sum()
    agg = agg.reset_index()

    # zero-fill on a common period grid, vectorised
    first, last = bounds if bounds is not None else (frame[C.DS].min(), frame[C.DS].max())
    if spec.end:
        last = pd.Timestamp(spec.end)
    grid = pd.period_range(first, last, freq=FREQS[spec.freq]).start_time
    ids, id_codes = np.unique(agg[C.UNIQUE_ID].to_numpy(dtype=object), return_inverse=True)
    period_codes = grid.get_indexer(agg[C.DS])
    agg = agg[period_codes >= 0]
    id_codes, period_codes = id_codes[period_codes >= 0], period_codes[period_codes >= 0]
    n_periods = len(grid)
    if spec.start == "first_sale":
        starts = np.full(len(ids), n_periods, dtype=np.int64)
        np.minimum.at(starts, id_codes, period_codes)
    else:
        starts = np.zeros(len(ids), dtype=np.int64)
    lengths = n_periods - starts
    row_id = np.repeat(np.arange(len(ids)), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    row_period = np.repeat(starts, lengths) + offsets
    flat = row_id * n_periods + row_period
    y = np.zeros(len(flat))
    revenue = np.zeros(len(flat))
    promo_qty = np.zeros(len(flat))
    pos = np.searchsorted(flat, id_codes * n_periods + period_codes)
    y[pos] = agg[C.QTY].to_numpy()
    revenue[pos] = agg["revenue"].to_numpy()
    promo_qty[pos] = agg["promo_qty"].to_numpy()

    panel = pd.DataFrame({C.UNIQUE_ID: ids[row_id], C.DS: grid[row_period], C.Y: y})
    with np.errstate(divide="ignore", invalid="ignore"):
        price = np.where(y > 0, revenue / y, np.nan)
        promo = np.where(y > 0, promo_qty / y, 0.0)
    panel[C.PRICE] = pd.Series(price).groupby(row_id).ffill().groupby(row_id).bfill().to_numpy()
    median_price = panel.groupby(C.UNIQUE_ID, sort=False)[C.PRICE].transform("median")
    panel["price_ratio"] = (panel[C.PRICE] / median_price).fillna(1.0)
    panel[C.PROMO] = promo
    cal = calendar_features(panel[C.DS], spec.freq, spec.holiday_country)
    panel = panel.merge(cal, on=C.DS, how="left")
    panel[C.UNIQUE_ID] = panel[C.UNIQUE_ID].astype("string")

    static = frame.drop_duplicates(C.UNIQUE_ID)[[C.UNIQUE_ID, *keys]].sort_values(
        C.UNIQUE_ID, ignore_index=True
    )
    if C.CATEGORY not in keys:
        static[C.CATEGORY] = static[C.SKU].map(products.set_index(C.SKU)[C.CATEGORY])
    static = static.astype("string")
    return panel, static


def future_calendar(
    last_ds: pd.Timestamp, horizon: int, freq: str, holiday_country: str | None
) -> pd.DataFrame:
    """Calendar covariates for the ``horizon`` periods after ``last_ds`` (known in advance)."""
    grid = pd.period_range(pd.Timestamp(last_ds), periods=horizon + 1, freq=FREQS[freq]).start_time[
        1:
    ]
    return calendar_features(pd.Series(grid), freq, holiday_country)
