"""One KPI system: every KPI defined once, computed by grain, dimension and period.

The KPI table is tidy — one row per KPI x grain x dimension x member x period::

    kpi | grain | dimension | member | period | value

* ``grain``: ``day`` or ``week`` (weeks start on Monday; ``period`` is the first day) for the
  flow KPIs from transactions; ``snapshot`` for stock KPIs (``period`` = the plan's ``as_of``);
  ``day`` for model health (the realised days a forecast or recommendation is scored on).
* ``dimension``: ``total`` (member ``all``), ``channel``, ``location``, ``category``,
  ``segment`` (the customer's current lifecycle stage from the feature store's RFM table;
  anonymous lines are ``anonymous``) and, for stock, ``abc``.

Definitions live in :data:`KPIS` (name, label, unit, which way is good, the formula in words);
``docs/KPIS.md`` is generated from them, the console labels its tiles with them, and alerts name
them — so there is exactly one place a KPI is defined.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from src.features import columns as C
from src.outputs.ids import first_key

KPI_COL, GRAIN, DIMENSION, MEMBER, PERIOD, VALUE = (
    "kpi",
    "grain",
    "dimension",
    "member",
    "period",
    "value",
)
KPI_COLUMNS = [KPI_COL, GRAIN, DIMENSION, MEMBER, PERIOD, VALUE]
ALL = "all"
ANONYMOUS = "anonymous"
SEGMENT = "segment"
ABC = "abc"
DIMENSION_COLUMNS = {
    "total": None,
    "channel": C.CHANNEL,
    "location": C.LOCATION_ID,
    "category": C.CATEGORY,
    "segment": SEGMENT,
    "abc": "abc_class",
}
GRAINS = {"day": "D", "week": "W-MON"}


@dataclass(frozen=True)
class KPI:
    name: str
    label: str
    unit: str  # currency | count | ratio | days | per_year
    higher_is_better: bool | None
    source: str  # sales | stock | forecast | recommendations
    definition: str


KPIS: dict[str, KPI] = {
    k.name: k
    for k in [
        KPI("net_sales", "Net sales", "currency", True, "sales",
            "sum of qty x unit_price over sale and return lines (returns are negative)"),
        KPI("orders", "Orders", "count", True, "sales", "distinct order_id among sale lines"),
        KPI("units", "Units (net)", "count", True, "sales",
            "sum of qty over sale and return lines"),
        KPI("aov", "Average order value", "currency", True, "sales",
            "gross sales (sale lines only) / orders"),
        KPI("active_customers", "Active customers", "count", True, "sales",
            "distinct One-ID customers with a sale line"),
        KPI("new_customers", "New customers", "count", True, "sales",
            "active customers whose first purchase ever falls in the period"),
        KPI("returning_customers", "Returning customers", "count", True, "sales",
            "active customers - new customers"),
        KPI("repeat_rate", "Repeat rate", "ratio", True, "sales",
            "returning customers / active customers"),
        KPI("return_rate", "Return rate", "ratio", False, "sales",
            "value of return lines / gross sales"),
        KPI("gross_margin", "Gross margin", "ratio", True, "sales",
            "(net sales - qty x unit_cost) / net sales, over lines whose product has a unit_cost"),
        KPI("inventory_value", "Inventory value on hand", "currency", None, "stock",
            "sum of on_hand x unit value over SKU x locations with a stock record"),
        KPI("days_of_cover", "Days of cover", "days", None, "stock",
            "inventory value / forecast daily demand value (champion forecast)"),
        KPI("turnover", "Inventory turnover", "per_year", True, "stock",
            "365 / days of cover (annualised turns at the forecast rate)"),
        KPI("stockout_rate", "Stockout rate", "ratio", False, "stock",
            "share of SKU x locations with forecast demand whose on_hand is 0"),
        KPI("lost_sales", "Lost sales (per day)", "currency", False, "stock",
            "forecast daily demand value of the SKU x locations out of stock"),
        KPI("below_reorder_point", "Below reorder point", "count", False, "stock",
            "SKU x locations whose inventory position is below their reorder point"),
        KPI("forecast_wape", "Forecast WAPE", "ratio", False, "forecast",
            "sum |y - y_hat| / sum y of the champion forecast on realised days"),
        KPI("forecast_bias", "Forecast bias", "ratio", None, "forecast",
            "sum (y_hat - y) / sum y (positive = over-forecast)"),
        KPI("forecast_coverage95", "Forecast 95% coverage", "ratio", True, "forecast",
            "share of series x days inside the champion's 95% interval"),
        KPI("rec_hit_rate", "Recommendation hit rate", "ratio", True, "recommendations",
            "share of buying customers who bought one of their top-k recommendations"),
    ]
}  # fmt: skip

SALES_KPIS = [k for k, v in KPIS.items() if v.source == "sales"]
# the transaction columns the KPIs read (the monitor reads only these)
LINE_COLUMNS = [C.ORDER_ID, C.TS, C.CUSTOMER_ID, C.CHANNEL, C.LOCATION_ID, C.SKU, C.QTY,
                C.UNIT_PRICE, C.LINE_TYPE]  # fmt: skip


def empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            KPI_COL: pd.Series(dtype="string"),
            GRAIN: pd.Series(dtype="string"),
            DIMENSION: pd.Series(dtype="string"),
            MEMBER: pd.Series(dtype="string"),
            PERIOD: pd.Series(dtype="datetime64[ns]"),
            VALUE: pd.Series(dtype="float64"),
        }
    )


def _tidy(wide: pd.DataFrame, grain: str, dimension: str, kpis: Sequence[str]) -> pd.DataFrame:
    """Wide (period[, member] x KPI columns) -> tidy rows."""
    frame = wide.reset_index()
    if MEMBER not in frame:
        frame[MEMBER] = ALL
    long = frame.melt(id_vars=[PERIOD, MEMBER], value_vars=list(kpis), var_name=KPI_COL,
                      value_name=VALUE)  # fmt: skip
    long[GRAIN] = grain
    long[DIMENSION] = dimension
    long = long.replace([np.inf, -np.inf], np.nan).dropna(subset=[VALUE])
    return long[KPI_COLUMNS]


# --- sales ---------------------------------------------------------------------------------------
def sales_lines(
    transactions: pd.DataFrame,
    products: pd.DataFrame,
    segments: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Sale and return lines with value, cost, category, segment and first-purchase day."""
    keep = transactions[C.LINE_TYPE].isin([C.LINE_SALE, C.LINE_RETURN]).to_numpy()
    tx = transactions.loc[keep, LINE_COLUMNS]
    prod = products.set_index(C.SKU)
    out = pd.DataFrame(
        {
            C.ORDER_ID: tx[C.ORDER_ID].astype("string").to_numpy(),
            "day": tx[C.TS].dt.normalize().to_numpy(),
            C.CUSTOMER_ID: tx[C.CUSTOMER_ID].astype("string").to_numpy(),
            C.CHANNEL: tx[C.CHANNEL].astype("string").to_numpy(),
            C.LOCATION_ID: tx[C.LOCATION_ID].astype("string").to_numpy(),
            C.SKU: tx[C.SKU].astype("string").to_numpy(),
            C.QTY: tx[C.QTY].astype("float64").to_numpy(),
            "is_sale": (tx[C.LINE_TYPE] == C.LINE_SALE).to_numpy(dtype=bool),
        }
    )
    out["value"] = out[C.QTY] * tx[C.UNIT_PRICE].astype("float64").to_numpy()
    sku = out[C.SKU]
    out[C.CATEGORY] = (
        sku.map(prod[C.CATEGORY].astype("string")).fillna("unknown").astype("string").to_numpy()
    )
    unit_cost = sku.map(prod[C.UNIT_COST].astype("float64")).to_numpy(dtype="float64")
    out["cost"] = out[C.QTY] * unit_cost  # NaN where the cost is unknown
    if segments is not None and len(segments):
        seg = segments.set_index(C.CUSTOMER_ID)[C.LIFECYCLE].astype("string")
        seg.index = seg.index.astype("string")
        out[SEGMENT] = out[C.CUSTOMER_ID].map(seg).fillna("unscored").astype("string")
    else:
        out[SEGMENT] = pd.Series("unscored", index=out.index, dtype="string")
    out.loc[out[C.CUSTOMER_ID].isna(), SEGMENT] = ANONYMOUS
    first = out[out["is_sale"]].groupby(C.CUSTOMER_ID)["day"].min()
    out["first_day"] = out[C.CUSTOMER_ID].map(first)
    return out


def sales_kpis(
    lines: pd.DataFrame,
    grains: Iterable[str] = ("day", "week"),
    dimensions: Iterable[str] = ("total", "channel", "location", "category", "segment"),
) -> pd.DataFrame:
    """The sales KPIs of :data:`KPIS` for every grain x dimension."""
    parts = []
    has_cost = lines["cost"].notna().any()
    for grain in grains:
        if grain not in GRAINS:
            raise ValueError(f"KPI grain {grain!r} unknown; known: {sorted(GRAINS)}")
        frame = lines.copy()
        if grain == "day":
            frame[PERIOD] = frame["day"]
            frame["first_period"] = frame["first_day"]
        else:  # the Monday that starts the week
            frame[PERIOD] = frame["day"] - pd.to_timedelta(frame["day"].dt.dayofweek, unit="D")
            fd = frame["first_day"]
            frame["first_period"] = fd - pd.to_timedelta(fd.dt.dayofweek, unit="D")
        frame["gross"] = np.where(frame["is_sale"], frame["value"], 0.0)
        frame["returned"] = np.where(frame["is_sale"], 0.0, -frame["value"])
        frame["costed_sales"] = np.where(frame["cost"].notna(), frame["value"], 0.0)
        frame["cost0"] = frame["cost"].fillna(0.0)
        sales = frame[frame["is_sale"]]
        known = sales[sales[C.CUSTOMER_ID].notna()]
        new = known[known["first_period"] == known[PERIOD]]
        for dimension in dimensions:
            col = DIMENSION_COLUMNS.get(dimension)
            if dimension not in DIMENSION_COLUMNS or dimension == "abc":
                raise ValueError(
                    f"KPI dimension {dimension!r} unknown for sales; known: "
                    f"{[d for d in DIMENSION_COLUMNS if d != 'abc']}"
                )
            keys = [PERIOD] if col is None else [PERIOD, col]
            sums = frame.groupby(keys, observed=True)[
                ["value", C.QTY, "gross", "returned", "costed_sales", "cost0"]
            ].sum()
            wide = pd.DataFrame(index=sums.index)
            wide["net_sales"] = sums["value"]
            wide["units"] = sums[C.QTY]
            orders = sales.groupby(keys, observed=True)[C.ORDER_ID].nunique()
            wide["orders"] = orders.reindex(wide.index).fillna(0.0)
            wide["aov"] = sums["gross"] / wide["orders"].replace(0, np.nan)
            active = known.groupby(keys, observed=True)[C.CUSTOMER_ID].nunique()
            wide["active_customers"] = active.reindex(wide.index).fillna(0.0)
            n_new = new.groupby(keys, observed=True)[C.CUSTOMER_ID].nunique()
            wide["new_customers"] = n_new.reindex(wide.index).fillna(0.0)
            wide["returning_customers"] = wide["active_customers"] - wide["new_customers"]
            wide["repeat_rate"] = wide["returning_customers"] / wide["active_customers"].replace(
                0, np.nan
            )
            wide["return_rate"] = sums["returned"] / sums["gross"].where(sums["gross"] > 0)
            kpis = [k for k in SALES_KPIS if k != "gross_margin"]
            if has_cost:
                cs = sums["costed_sales"].where(sums["costed_sales"] != 0)
                wide["gross_margin"] = (cs - sums["cost0"]) / cs
                kpis.append("gross_margin")
            if col is not None:
                wide.index = wide.index.set_names([PERIOD, MEMBER])
            else:
                wide.index = wide.index.set_names([PERIOD])
            parts.append(_tidy(wide, grain, dimension, kpis))
    return concat(parts)


# --- stock ---------------------------------------------------------------------------------------
def stock_kpis(
    suggestions: pd.DataFrame,
    products: pd.DataFrame,
    dimensions: Iterable[str] = ("total", "location", "category", "abc"),
) -> pd.DataFrame:
    """Stock KPIs from the latest reorder plan, over SKU x locations with a stock record only
    (a brand without inventory data gets none, rather than a 100 % stockout rate)."""
    s = suggestions[suggestions["inventory_known"].astype(bool)].copy()
    if s.empty:
        return empty()
    s[C.CATEGORY] = (
        s[C.SKU].astype("string").map(products.set_index(C.SKU)[C.CATEGORY].astype("string"))
    ).fillna("unknown")
    s[PERIOD] = pd.to_datetime(s[C.AS_OF])
    value = s["unit_value"].fillna(0.0)
    s["stock_value"] = s[C.ON_HAND].clip(lower=0) * value
    s["demand_value"] = s["mean_daily_demand"].fillna(0.0) * value
    s["selling"] = s["mean_daily_demand"].fillna(0.0) > 0
    s["out"] = s["selling"] & (s[C.ON_HAND] <= 0)
    s["lost"] = np.where(s["out"], s["demand_value"], 0.0)
    s["below"] = s["inventory_position"] < s["reorder_point"]
    parts = []
    for dimension in dimensions:
        col = DIMENSION_COLUMNS[dimension]
        keys = [PERIOD] if col is None else [PERIOD, col]
        g = s.groupby(keys, observed=True)
        sums = g[["stock_value", "demand_value", "selling", "out", "lost", "below"]].sum()
        wide = pd.DataFrame(index=sums.index)
        wide["inventory_value"] = sums["stock_value"]
        wide["days_of_cover"] = sums["stock_value"] / sums["demand_value"].where(
            sums["demand_value"] > 0
        )
        wide["turnover"] = 365.0 / wide["days_of_cover"].where(wide["days_of_cover"] > 0)
        wide["stockout_rate"] = sums["out"] / sums["selling"].where(sums["selling"] > 0)
        wide["lost_sales"] = sums["lost"]
        wide["below_reorder_point"] = sums["below"].astype(float)
        wide.index = wide.index.set_names([PERIOD] if col is None else [PERIOD, MEMBER])
        kpis = [k for k, v in KPIS.items() if v.source == "stock"]
        parts.append(_tidy(wide, "snapshot", dimension, kpis))
    return concat(parts)


# --- model health --------------------------------------------------------------------------------
def forecast_kpis(scored: pd.DataFrame, products: pd.DataFrame | None = None) -> pd.DataFrame:
    """Daily accuracy of a forecast on realised days: ``scored`` has unique_id, ds, y, y_hat and
    (optionally) q0.025 / q0.975. Series are SKUs (``sku`` or ``sku|location``)."""
    if scored.empty:
        return empty()
    f = scored.copy()
    f[PERIOD] = pd.to_datetime(f[C.DS])
    f["abs_err"] = (f[C.Y] - f["y_hat"]).abs()
    f["err"] = f["y_hat"] - f[C.Y]
    has_band = {"q0.025", "q0.975"} <= set(f.columns)
    if has_band:
        f["inside"] = (f[C.Y] >= f["q0.025"]) & (f[C.Y] <= f["q0.975"])
    parts = []
    dims = {"total": None}
    if products is not None:
        sku = first_key(f[C.UNIQUE_ID])  # the SKU of a sku or sku_location series
        f[C.CATEGORY] = sku.map(products.set_index(C.SKU)[C.CATEGORY].astype("string")).fillna(
            "unknown"
        )
        dims["category"] = C.CATEGORY
    for dimension, col in dims.items():
        keys = [PERIOD] if col is None else [PERIOD, col]
        g = f.groupby(keys, observed=True)
        sums = g[["abs_err", "err", C.Y]].sum()
        wide = pd.DataFrame(index=sums.index)
        denom = sums[C.Y].where(sums[C.Y] > 0)
        wide["forecast_wape"] = sums["abs_err"] / denom
        wide["forecast_bias"] = sums["err"] / denom
        kpis = ["forecast_wape", "forecast_bias"]
        if has_band:
            wide["forecast_coverage95"] = g["inside"].mean()
            kpis.append("forecast_coverage95")
        wide.index = wide.index.set_names([PERIOD] if col is None else [PERIOD, MEMBER])
        parts.append(_tidy(wide, "day", dimension, kpis))
    return concat(parts)


def hit_rate_kpis(
    recommendations: pd.DataFrame, purchases: pd.DataFrame, k: int = 20
) -> pd.DataFrame:
    """Per day after the recommendations were made: share of that day's buying customers (who had
    recommendations) who bought at least one of their top-``k`` items."""
    if recommendations.empty or purchases.empty:
        return empty()
    top = recommendations[recommendations["rank"] <= k][[C.CUSTOMER_ID, C.SKU]].astype("string")
    p = purchases[[C.CUSTOMER_ID, C.SKU, "day"]].dropna(subset=[C.CUSTOMER_ID]).copy()
    p[[C.CUSTOMER_ID, C.SKU]] = p[[C.CUSTOMER_ID, C.SKU]].astype("string")
    p = p[p[C.CUSTOMER_ID].isin(set(top[C.CUSTOMER_ID]))]
    if p.empty:
        return empty()
    hit = p.merge(top.assign(hit=True), on=[C.CUSTOMER_ID, C.SKU], how="left")
    hit["hit"] = hit["hit"].fillna(False).astype(bool)
    per = hit.groupby(["day", C.CUSTOMER_ID])["hit"].any().groupby(level="day").mean()
    wide = pd.DataFrame({"rec_hit_rate": per})
    wide.index = wide.index.set_names([PERIOD])
    return _tidy(wide, "day", "total", ["rec_hit_rate"])


def concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty()
    out = pd.concat(parts, ignore_index=True)
    for c in (KPI_COL, GRAIN, DIMENSION, MEMBER):
        out[c] = out[c].astype("string")
    out[PERIOD] = pd.to_datetime(out[PERIOD]).astype("datetime64[ns]")
    out[VALUE] = out[VALUE].astype("float64")
    return out


def fmt(v: float | None, kpi: str) -> str:
    """A KPI value as people read it (alert messages, console tiles): ratios as %, money and
    counts whole, days and turns to one decimal."""
    if v is None or not np.isfinite(v):
        return "n/a"
    unit = KPIS[kpi].unit
    if unit == "ratio":
        return f"{v:.1%}"
    if unit in ("days", "per_year"):
        return f"{v:,.1f}"
    return f"{v:,.0f}"


def series(
    kpis: pd.DataFrame, kpi: str, grain: str = "day", dimension: str = "total", member: str = ALL
) -> pd.Series:
    """One KPI series (period -> value)."""
    sel = kpis[
        (kpis[KPI_COL] == kpi)
        & (kpis[GRAIN] == grain)
        & (kpis[DIMENSION] == dimension)
        & (kpis[MEMBER] == member)
    ]
    return sel.set_index(PERIOD)[VALUE].sort_index()


def definitions_markdown(kpis: Mapping[str, KPI] = KPIS) -> str:
    rows = [
        "| KPI | label | unit | good when | source | definition |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for k in kpis.values():
        good = {True: "higher", False: "lower", None: "in band"}[k.higher_is_better]
        rows.append(f"| `{k.name}` | {k.label} | {k.unit} | {good} | {k.source} | {k.definition} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # the table of docs/KPIS.md
    print(definitions_markdown(), end="")
