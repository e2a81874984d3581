"""M5 (Walmart, Kaggle 2020): wide daily sales + calendar + prices.

For forecasting benchmarks only; the files stay in ``../shared/data`` and are never committed.

* :func:`panel` gives the demand panel directly (``unique_id`` like ``HOBBIES_2_001_CA_3``, daily
  ``y`` from each item's first week on sale, covariates ``price``, ``price_ratio``, ``snap``,
  ``event`` / ``event_type``, calendar) plus ``static_df`` (item, dept, cat, store, state) and the
  future covariates for the days after the sales file ends (prices and calendar are known for
  d_1942..d_1969);
* :func:`load` turns the same data into canonical tables (one line per store x item x day with
  sales, channel ``store``) through the common validation path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from src.features import columns as C
from src.features.ingest import IngestOptions, IngestResult, ingest
from src.features.transactions import SourceSpec

ID_PATTERN = (
    r"^(?P<item_id>(?P<dept_id>(?P<cat_id>[A-Z]+)_\d+)_\d+)_(?P<store_id>(?P<state_id>[A-Z]+)_\d+)"
)


def read(root: str | Path, sales: str, calendar: str, prices: str):
    root = Path(root)
    wide = pd.read_parquet(root / sales)
    cal = pd.read_parquet(root / calendar)
    price = pd.read_parquet(root / prices)
    return wide, cal, price


def statics(ids: pd.Series) -> pd.DataFrame:
    parts = ids.str.extract(ID_PATTERN)
    if parts["item_id"].isna().any():
        bad = ids[parts["item_id"].isna()].head(3).tolist()
        raise ValueError(f"M5 ids not of the form ITEM_STORE (e.g. HOBBIES_2_001_CA_3): {bad}")
    out = parts.assign(**{C.UNIQUE_ID: parts["item_id"] + "_" + parts["store_id"]})
    return out[[C.UNIQUE_ID, "item_id", "dept_id", "cat_id", "store_id", "state_id"]]


def panel(
    root: str | Path,
    sales: str = "m5_sales_daily_subset_hobbies2_ca3.parquet",
    calendar: str = "m5_calendar.parquet",
    prices: str = "m5_sell_prices.parquet",
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(panel, static_df, future_covariates)`` for the series in the sales file."""
    wide, cal, price = read(root, sales, calendar, prices)
    static = statics(wide["id"])
    days = [c for c in wide.columns if c.startswith("d_")]
    y = wide[days].to_numpy(dtype="float64")
    n_series, n_days = y.shape
    cal = cal.assign(ds=pd.to_datetime(cal["date"]).astype("datetime64[ns]"))
    day_index = cal.set_index("d")
    long = pd.DataFrame(
        {
            C.UNIQUE_ID: np.repeat(static[C.UNIQUE_ID].to_numpy(), len(cal)),
            "item_id": np.repeat(static["item_id"].to_numpy(), len(cal)),
            "store_id": np.repeat(static["store_id"].to_numpy(), len(cal)),
            "state_id": np.repeat(static["state_id"].to_numpy(), len(cal)),
            "d": np.tile(cal["d"].to_numpy(), n_series),
        }
    )
    yy = np.full((n_series, len(cal)), np.nan)
    yy[:, :n_days] = y
    long[C.Y] = yy.ravel()
    long = long.join(
        day_index[
            [
                "ds",
                "wm_yr_wk",
                "wday",
                "month",
                "event_name_1",
                "event_type_1",
                "snap_CA",
                "snap_TX",
                "snap_WI",
            ]
        ],
        on="d",
    )
    sp = price[
        price["store_id"].isin(static["store_id"]) & price["item_id"].isin(static["item_id"])
    ]
    long = long.merge(sp, on=["store_id", "item_id", "wm_yr_wk"], how="left")
    long = long[long["sell_price"].notna()]  # an item exists from its first week on sale
    snap = np.select(
        [long["state_id"] == "CA", long["state_id"] == "TX", long["state_id"] == "WI"],
        [long["snap_CA"], long["snap_TX"], long["snap_WI"]],
        0,
    )
    out = pd.DataFrame(
        {
            C.UNIQUE_ID: long[C.UNIQUE_ID].astype("string"),
            C.DS: long["ds"],
            C.Y: long[C.Y],
            C.PRICE: long["sell_price"],
            "snap": snap.astype("int8"),
            "event": long["event_name_1"].notna().astype("int8"),
            "event_type": long["event_type_1"].fillna("none").astype("string"),
            "dow": (long["wday"] - 1).astype("int8"),  # M5 wday: 1 = Saturday
            "month": long["month"].astype("int8"),
        }
    )
    out["price_ratio"] = out[C.PRICE] / out.groupby(C.UNIQUE_ID)[C.PRICE].transform("median")
    out = out.sort_values([C.UNIQUE_ID, C.DS], ignore_index=True)
    history = out[out[C.Y].notna()].reset_index(drop=True)
    future = out[out[C.Y].isna()].drop(columns=C.Y).reset_index(drop=True)
    static = static.astype("string").sort_values(C.UNIQUE_ID, ignore_index=True)
    return history, static, future


def load(
    root: str | Path,
    sales: str = "m5_sales_daily_subset_hobbies2_ca3.parquet",
    calendar: str = "m5_calendar.parquet",
    prices: str = "m5_sell_prices.parquet",
    options: IngestOptions | None = None,
) -> IngestResult:
    """Canonical tables: one transaction line per store x item x day with sales."""
    history, static, _ = panel(root, sales, calendar, prices)
    sold = history[history[C.Y] > 0].merge(static, on=C.UNIQUE_ID)
    sold = sold.sort_values([C.DS, "store_id", "item_id"], ignore_index=True)
    raw = pd.DataFrame(
        {
            C.ORDER_ID: sold["store_id"] + "_" + sold[C.DS].dt.strftime("%Y-%m-%d"),
            C.SKU: sold["item_id"],
            C.TS: sold[C.DS],
            C.QTY: sold[C.Y],
            C.UNIT_PRICE: sold[C.PRICE],
            C.LOCATION_ID: sold["store_id"],
            C.CATEGORY: sold["cat_id"],
            C.SUBCATEGORY: sold["dept_id"],
            C.NAME: sold["item_id"],
        }
    )
    path = Path(root) / sales
    spec = SourceSpec(
        name="m5",
        path=path,
        columns={c: c for c in raw.columns},
        channel="store",
        customer_id_is_member_id=False,
    )
    options = options or IngestOptions()
    return ingest([spec], options, raw_frames={str(path): raw}, non_merchandise={})
