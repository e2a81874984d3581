"""Alert rules (``conf/monitor/default.yaml``: ``rules``) evaluated over the KPI table.

Rule kinds:

* ``threshold`` — the latest value of a KPI slice against a bound (``op`` ``>`` or ``<``,
  ``value``), e.g. ``days_of_cover > 60`` for A items, ``stockout_rate > 0.02``;
* ``change`` — the latest complete period against the one before (``drop_pct`` / ``rise_pct``),
  e.g. net sales down more than 20 % week over week per channel;
* ``anomaly`` — values of the last ``recent_days`` outside the forecast band of one of the
  project's forecasters (:mod:`src.monitor.anomaly`);
* ``model_health`` — a model KPI outside its backtest band for ``days`` days in a row
  (champion WAPE above its band; recommendation hit rate more than ``drop_pct`` below its own
  recent median).

Every alert carries its slice, the evidence (value, expected, band), a suggested action, a link
into the console and, where one applies, the items to act on (the SKUs below their reorder
point, the slowest movers of an overstocked class).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from src.features import columns as C
from src.forecast.base import Forecaster
from src.monitor import anomaly as A
from src.monitor.kpis import (
    DIMENSION,
    DIMENSION_COLUMNS,
    GRAIN,
    KPI_COL,
    KPIS,
    MEMBER,
    PERIOD,
    VALUE,
    fmt,
)

log = logging.getLogger(__name__)
SEVERITIES = ("info", "warning", "critical")
KINDS = ("threshold", "change", "anomaly", "model_health")


def _check(rule: Mapping) -> None:
    name = rule.get("name", "?")
    if rule.get("kind") not in KINDS:
        raise ValueError(f"monitor rule {name!r}: kind {rule.get('kind')!r} unknown; {KINDS}")
    for k in rule.get("kpis", [rule.get("kpi")]):
        if k not in KPIS:
            raise ValueError(f"monitor rule {name!r}: KPI {k!r} unknown; known: {sorted(KPIS)}")
    if rule.get("severity", "warning") not in SEVERITIES:
        raise ValueError(f"monitor rule {name!r}: severity must be one of {SEVERITIES}")


def _slices(kpis: pd.DataFrame, rule: Mapping, grain: str) -> pd.DataFrame:
    sel = kpis[(kpis[KPI_COL] == rule["kpi"]) & (kpis[GRAIN] == grain)]
    sel = sel[sel[DIMENSION] == rule.get("dimension", "total")]
    members = rule.get("members")
    if members:
        sel = sel[sel[MEMBER].isin([str(m) for m in members])]
    return sel


def _alert(rule: Mapping, kind: str, kpi: str, row: Mapping, message: str, **evidence) -> dict:
    return {
        "key": f"{rule['name']}|{row[DIMENSION]}|{row[MEMBER]}",
        "rule": rule["name"],
        "kind": kind,
        "severity": rule.get("severity", "warning"),
        "area": KPIS[kpi].source,
        "kpi": kpi,
        "grain": row[GRAIN],
        "dimension": row[DIMENSION],
        "member": row[MEMBER],
        "period": pd.Timestamp(row[PERIOD]).to_pydatetime(),
        "value": float(row[VALUE]),
        "message": message,
        **{k: (None if v is None else float(v)) for k, v in evidence.items()},
    }


def threshold_alerts(kpis: pd.DataFrame, rule: Mapping) -> list[dict]:
    grain = rule.get("grain", "snapshot" if KPIS[rule["kpi"]].source == "stock" else "day")
    sel = _slices(kpis, rule, grain)
    if sel.empty:
        return []
    latest = sel.sort_values(PERIOD).groupby(MEMBER, observed=True).tail(1)
    op, bound = rule.get("op", ">"), float(rule["value"])
    hit = latest[VALUE] > bound if op == ">" else latest[VALUE] < bound
    out = []
    for row in latest[hit.to_numpy()].to_dict("records"):
        label = KPIS[rule["kpi"]].label
        msg = (f"{label} {fmt(row[VALUE], rule['kpi'])} {op} {fmt(bound, rule['kpi'])} "
               f"({row[DIMENSION]} {row[MEMBER]})")  # fmt: skip
        kw = {"hi": bound} if op == ">" else {"lo": bound}
        out.append(_alert(rule, "threshold", rule["kpi"], row, msg, expected=None, **kw))
    return out


def change_alerts(kpis: pd.DataFrame, rule: Mapping, last_day: pd.Timestamp) -> list[dict]:
    grain = rule.get("grain", "week")
    sel = _slices(kpis, rule, grain)
    if sel.empty:
        return []
    span = pd.Timedelta(days=7 if grain == "week" else 1)
    complete = sel[sel[PERIOD] + span <= last_day + pd.Timedelta(days=1)]  # drop a partial week
    out = []
    for _member, g in complete.sort_values(PERIOD).groupby(MEMBER, observed=True):
        if len(g) < 2:
            continue
        prev, cur = g.iloc[-2], g.iloc[-1]
        if prev[VALUE] <= 0:
            continue
        change = cur[VALUE] / prev[VALUE] - 1
        drop, rise = rule.get("drop_pct"), rule.get("rise_pct")
        if (drop is not None and change < -float(drop)) or (
            rise is not None and change > float(rise)
        ):
            label = KPIS[rule["kpi"]].label
            msg = (f"{label} {change:+.0%} {grain} over {grain} ({cur[DIMENSION]} {cur[MEMBER]}): "
                   f"{fmt(cur[VALUE], rule['kpi'])} after {fmt(prev[VALUE], rule['kpi'])}")  # fmt: skip
            out.append(_alert(rule, "change", rule["kpi"], cur, msg, expected=prev[VALUE]))
    return out


def anomaly_alerts(
    kpis: pd.DataFrame,
    rule: Mapping,
    make: Callable[[tuple[float, ...]], Forecaster],
) -> list[dict]:
    window = int(rule.get("window", 14))
    recent = int(rule.get("recent_days", 3))
    history = int(rule.get("history_days", 365))
    daily = kpis[(kpis[GRAIN] == "day") & kpis[KPI_COL].isin(rule["kpis"])]
    daily = daily[daily[DIMENSION].isin(rule.get("dimensions", ["total"]))]
    if daily.empty:
        return []
    last = daily[PERIOD].max()
    daily = daily[daily[PERIOD] > last - pd.Timedelta(days=history + window)]
    key = daily[KPI_COL] + "\x1f" + daily[DIMENSION] + "\x1f" + daily[MEMBER]
    wide = daily.assign(unique_id=key).pivot_table(
        index=PERIOD, columns=C.UNIQUE_ID, values=VALUE, aggfunc="sum"
    )
    wide = wide.reindex(pd.date_range(wide.index.min(), last, freq="D")).fillna(0.0)
    min_mean = float(rule.get("min_mean", 5.0))
    wide = wide.loc[:, wide.mean() >= min_mean]
    if wide.empty:
        return []
    panel = wide.rename_axis(index=C.DS, columns=C.UNIQUE_ID).stack().rename(C.Y).reset_index()
    band = A.forecast_band(
        panel, make, window, float(rule.get("lo", 0.005)), float(rule.get("hi", 0.995)),
        step=int(rule.get("step", 1)),
    )  # fmt: skip
    flagged = band[(band[A.ANOMALY] != 0) & (band[C.DS] > last - pd.Timedelta(days=recent))]
    out = []
    for row in flagged.sort_values(C.DS).to_dict("records"):
        kpi, dim, member = row[C.UNIQUE_ID].split("\x1f")
        r = {GRAIN: "day", DIMENSION: dim, MEMBER: member, PERIOD: row[C.DS], VALUE: row[C.Y]}
        word = "above" if row[A.ANOMALY] > 0 else "below"
        msg = (f"{KPIS[kpi].label} {fmt(row[C.Y], kpi)} on {row[C.DS]:%Y-%m-%d} is {word} its "
               f"forecast band {fmt(row[A.LO], kpi)}-{fmt(row[A.HI], kpi)} ({dim} {member})")  # fmt: skip
        a = _alert(rule, "anomaly", kpi, r, msg, expected=row[A.EXPECTED], lo=row[A.LO],
                   hi=row[A.HI])  # fmt: skip
        a["key"] = f"{rule['name']}|{kpi}|{dim}|{member}"
        a["direction"] = word
        out.append(a)
    return out


def health_alerts(kpis: pd.DataFrame, rule: Mapping, bands: Mapping[str, tuple]) -> list[dict]:
    """``days`` in a row outside the band: the model's backtest band (``bands``), or, with
    ``drop_pct``, below (1 - drop_pct) x the KPI's own median over the ``reference_days``
    before them (a hit rate that fell)."""
    kpi = rule["kpi"]
    sel = _slices(kpis, {**rule, "dimension": "total"}, "day").sort_values(PERIOD)
    days = int(rule.get("days", 3))
    if len(sel) < days:
        return []
    tail, before = sel.tail(days), sel.iloc[:-days].tail(int(rule.get("reference_days", 28)))
    if rule.get("drop_pct") is not None:
        if len(before) < days:
            return []
        ref = float(before[VALUE].median())
        lo, hi, what = ref * (1 - float(rule["drop_pct"])), None, "its recent level"
    elif kpi in bands:
        (lo, hi), ref, what = bands[kpi], None, "its backtest band"
    else:
        return []
    outside = (tail[VALUE] < (-np.inf if lo is None else lo)) | (
        tail[VALUE] > (np.inf if hi is None else hi)
    )
    if not outside.all():
        return []
    row = tail.iloc[-1].to_dict()
    msg = (f"{KPIS[kpi].label} outside {what} {fmt(lo, kpi)}-{fmt(hi, kpi)} for "
           f"{days} days (latest {fmt(row[VALUE], kpi)})")  # fmt: skip
    return [_alert(rule, "model_health", kpi, row, msg, expected=ref, lo=lo, hi=hi)]


# --- actions ------------------------------------------------------------------------------------
def _in_slice(s: pd.DataFrame, products: pd.DataFrame, dim: str, member: str) -> pd.DataFrame:
    col = DIMENSION_COLUMNS.get(dim)
    if col is None:
        return s
    if col == C.CATEGORY and C.CATEGORY not in s:
        s = s.assign(
            **{C.CATEGORY: s[C.SKU].map(products.set_index(C.SKU)[C.CATEGORY]).astype("string")}
        )
    if col not in s:
        return s
    return s[s[col].astype("string") == member]


def attach_actions(
    alerts: list[dict],
    rules: Mapping[str, Mapping],
    suggestions: pd.DataFrame | None,
    products: pd.DataFrame,
    max_items: int = 25,
) -> list[dict]:
    """Fill ``action``, ``link`` and ``items`` of each alert from its rule's ``action`` block."""
    for a in alerts:
        spec = rules[a["rule"]].get("action", {}) or {}
        a["action"] = spec.get("text", "review the KPI in the console")
        a["link"] = spec.get("link", f"/overview?kpi={a['kpi']}")
        a["items"] = []
        items = spec.get("items")
        if items and suggestions is not None and len(suggestions):
            s = _in_slice(suggestions, products, a["dimension"], a["member"])
            s = s[s["inventory_known"].astype(bool)]
            if items == "below_reorder_point":
                s = s[s["inventory_position"] < s["reorder_point"]].sort_values(
                    "order_value", ascending=False
                )
                a["items"] = [
                    f"{r[C.SKU]} @ {r[C.LOCATION_ID]}: position {r['inventory_position']:.0f} < "
                    f"reorder point {r['reorder_point']:.0f}, order {r['order_qty']:.0f}"
                    for r in s.head(max_items).to_dict("records")
                ]
            elif items == "highest_cover":
                s = s.sort_values("days_of_cover", ascending=False)
                a["items"] = [
                    f"{r[C.SKU]} @ {r[C.LOCATION_ID]}: {r['days_of_cover']:.0f} days of cover, "
                    f"{r['on_hand']:.0f} on hand"
                    for r in s.head(max_items).to_dict("records")
                ]
            else:
                raise ValueError(
                    f"monitor rule {a['rule']!r}: action.items {items!r} unknown; "
                    "known: below_reorder_point, highest_cover"
                )
    return alerts


def evaluate(
    kpis: pd.DataFrame,
    rules: Sequence[Mapping],
    make_forecaster: Callable[[tuple[float, ...]], Forecaster],
    bands: Mapping[str, tuple] | None = None,
    last_day: pd.Timestamp | None = None,
) -> list[dict]:
    """Every rule's alerts (not yet deduplicated, actions not yet attached)."""
    out = []
    last_day = last_day if last_day is not None else kpis[PERIOD].max()
    for rule in rules:
        _check(rule)
        kind = rule["kind"]
        if kind == "threshold":
            found = threshold_alerts(kpis, rule)
        elif kind == "change":
            found = change_alerts(kpis, rule, last_day)
        elif kind == "anomaly":
            found = anomaly_alerts(kpis, rule, make_forecaster)
        else:
            found = health_alerts(kpis, rule, bands or {})
        log.info("rule %s (%s): %d alert(s)", rule["name"], kind, len(found))
        out += found
    return out
