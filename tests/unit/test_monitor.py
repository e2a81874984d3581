"""KPI definitions computed by hand on a few lines; alert rules on hand-made KPI series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src.features import columns as C
from src.forecast.baselines import ExponentialSmoothing
from src.monitor import alerts as AL
from src.monitor import anomaly as A
from src.monitor import kpis as K


def tx(rows):
    cols = [C.ORDER_ID, C.TS, C.CUSTOMER_ID, C.CHANNEL, C.LOCATION_ID, C.SKU, C.QTY,
            C.UNIT_PRICE, C.LINE_TYPE]  # fmt: skip
    f = pd.DataFrame(rows, columns=cols)
    f[C.TS] = pd.to_datetime(f[C.TS])
    return f


PRODUCTS = pd.DataFrame(
    {C.SKU: ["A", "B"], C.CATEGORY: ["toys", "food"], C.UNIT_COST: [2.0, np.nan]}
)
LINES = tx(
    [
        ("o1", "2024-01-01 10:00", "c1", "web", "dc", "A", 2, 5.0, "sale"),
        ("o1", "2024-01-01 10:00", "c1", "web", "dc", "B", 1, 10.0, "sale"),
        ("o2", "2024-01-01 12:00", "c2", "store", "s1", "A", 1, 5.0, "sale"),
        ("o3", "2024-01-02 09:00", "c1", "web", "dc", "A", 1, 5.0, "sale"),
        ("r1", "2024-01-02 11:00", "c2", "store", "s1", "A", -1, 5.0, "return"),
        ("o4", "2024-01-02 15:00", None, "store", "s1", "B", 3, 10.0, "sale"),
        ("x1", "2024-01-02 16:00", None, "store", "s1", "B", -9, 10.0, "adjustment"),
    ]
)


def value(kpis, kpi, period, grain="day", dimension="total", member="all"):
    s = K.series(kpis, kpi, grain, dimension, member)
    return s[pd.Timestamp(period)]


def test_sales_kpis_match_hand_computation():
    segments = pd.DataFrame({C.CUSTOMER_ID: ["c1", "c2"], C.LIFECYCLE: ["active", "new"]})
    k = K.sales_kpis(K.sales_lines(LINES, PRODUCTS, segments))
    # day 1: o1 (10 + 10) + o2 (5); day 2: o3 5, return -5, o4 30; the adjustment is not sales
    assert value(k, "net_sales", "2024-01-01") == 25.0
    assert value(k, "net_sales", "2024-01-02") == 30.0
    assert value(k, "orders", "2024-01-02") == 2  # o3, o4 (the return is not an order)
    assert value(k, "units", "2024-01-02") == 1 - 1 + 3
    assert value(k, "aov", "2024-01-02") == pytest.approx(35 / 2)
    assert value(k, "active_customers", "2024-01-01") == 2
    assert value(k, "new_customers", "2024-01-01") == 2
    assert value(k, "new_customers", "2024-01-02") == 0  # c1 came back; o4 is anonymous
    assert value(k, "repeat_rate", "2024-01-02") == 1.0
    assert value(k, "return_rate", "2024-01-02") == pytest.approx(5 / 35)
    # margin over lines with a cost only (A): day 1 10 + 5 sales, cost 3 x 2
    assert value(k, "gross_margin", "2024-01-01") == pytest.approx((15 - 6) / 15)
    # weeks start on Monday (2024-01-01 is one); slices by channel, category, segment
    assert value(k, "net_sales", "2024-01-01", grain="week") == 55.0
    assert value(k, "net_sales", "2024-01-01", "day", "channel", "web") == 20.0
    assert value(k, "net_sales", "2024-01-02", "day", "category", "food") == 30.0
    assert value(k, "net_sales", "2024-01-02", "day", "segment", "anonymous") == 30.0
    assert value(k, "net_sales", "2024-01-02", "day", "segment", "new") == -5.0


def test_stock_kpis_only_where_stock_is_known():
    s = pd.DataFrame(
        {
            C.LOCATION_ID: ["s1", "s1", "s2"], C.SKU: ["A", "B", "A"],
            "abc_class": ["A", "B", "A"], C.AS_OF: pd.Timestamp("2024-01-02"),
            C.ON_HAND: [10.0, 0.0, 5.0], "unit_value": [2.0, 4.0, 2.0],
            "mean_daily_demand": [1.0, 2.0, 0.0], "inventory_position": [10.0, 0.0, 5.0],
            "reorder_point": [5.0, 3.0, 1.0], "inventory_known": [True, True, False],
        }
    )  # fmt: skip
    k = K.stock_kpis(s, PRODUCTS)
    assert value(k, "inventory_value", "2024-01-02", "snapshot") == 20.0
    assert value(k, "days_of_cover", "2024-01-02", "snapshot") == pytest.approx(20 / (2 + 8))
    assert value(k, "stockout_rate", "2024-01-02", "snapshot") == 0.5
    assert value(k, "lost_sales", "2024-01-02", "snapshot") == 8.0
    assert value(k, "below_reorder_point", "2024-01-02", "snapshot") == 1
    assert K.stock_kpis(s.assign(inventory_known=False), PRODUCTS).empty


def kpi_series(values, kpi="net_sales", dimension="total", member="all", grain="day"):
    periods = pd.date_range(
        "2024-01-01", periods=len(values), freq="D" if grain == "day" else "W-MON"
    )
    return pd.DataFrame(
        {K.KPI_COL: kpi, K.GRAIN: grain, K.DIMENSION: dimension, K.MEMBER: member,
         K.PERIOD: periods, K.VALUE: np.asarray(values, dtype=float)}
    )  # fmt: skip


def test_threshold_and_change_rules():
    k = pd.concat(
        [kpi_series([0.01, 0.03], "stockout_rate", grain="snapshot"),
         kpi_series([100, 100, 70, 50], "net_sales", "channel", "web", grain="week")]
    )  # fmt: skip
    rules = [
        {"name": "so", "kind": "threshold", "kpi": "stockout_rate", "op": ">", "value": 0.02},
        {"name": "wow", "kind": "change", "kpi": "net_sales", "dimension": "channel",
         "drop_pct": 0.2},
    ]  # fmt: skip
    found = AL.evaluate(k, rules, None, last_day=pd.Timestamp("2024-01-28"))
    assert [a["rule"] for a in found] == ["so", "wow"]
    assert found[0]["value"] == 0.03 and found[0]["hi"] == 0.02
    # the last week (from 01-22) is complete on 01-28; 50 after 70 is -29 %
    assert found[1]["value"] == 50 and found[1]["expected"] == 70
    # a partial last week is not compared
    assert len(AL.change_alerts(k, rules[1], pd.Timestamp("2024-01-25"))) == 1  # 70 vs 100
    with pytest.raises(ValueError, match="KPI 'nope' unknown"):
        AL.evaluate(k, [{"name": "x", "kind": "threshold", "kpi": "nope", "value": 1}], None)


def make(q):
    return ExponentialSmoothing(quantiles=q)


def test_forecast_band_flags_a_planted_drop_and_not_the_closed_days():
    rng = np.random.default_rng(0)
    days = pd.date_range("2024-01-01", periods=140, freq="D")
    y = rng.poisson(200, len(days)).astype(float)
    y[days.dayofweek == 5] = 0  # closed on Saturdays
    y[-3] = 40  # an outage
    panel = pd.DataFrame({C.UNIQUE_ID: "s", C.DS: days, C.Y: y})
    band = A.forecast_band(panel, make, window=14)
    flagged = band[band[A.ANOMALY] != 0]
    assert list(flagged[C.DS]) == [days[-3]] and flagged[A.ANOMALY].iloc[0] == -1
    rule = {"name": "an", "kind": "anomaly", "kpis": ["net_sales"], "recent_days": 3}
    k = kpi_series(y)
    (alert,) = AL.evaluate(k, [rule], make)
    assert (
        alert["value"] == 40 and alert["lo"] > 40 and "below its forecast band" in alert["message"]
    )


def test_health_rule_needs_days_in_a_row_outside_the_band():
    k = kpi_series([0.3, 0.9, 0.9, 0.9], "forecast_wape")
    rule = {"name": "h", "kind": "model_health", "kpi": "forecast_wape", "days": 3}
    assert len(AL.evaluate(k, [rule], None, bands={"forecast_wape": (None, 0.5)})) == 1
    rule["days"] = 4
    assert AL.evaluate(k, [rule], None, bands={"forecast_wape": (None, 0.5)}) == []


def test_definitions_are_documented_once():
    md = K.definitions_markdown()
    assert all(f"`{name}`" in md for name in K.KPIS)


def test_docs_table_is_generated_from_the_definitions():
    from tests.helpers import REPO

    assert K.definitions_markdown() in (REPO / "docs" / "KPIS.md").read_text()


def test_forecast_and_hit_rate_kpis_on_realised_days():
    scored = pd.DataFrame(
        {
            C.UNIQUE_ID: ["A", "B", "A", "B"],
            C.DS: pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-02", "2024-01-02"]),
            C.Y: [10.0, 0.0, 4.0, 6.0],
            "y_hat": [8.0, 1.0, 5.0, 5.0],
            "q0.025": [5.0, 0.0, 0.0, 0.0],
            "q0.975": [9.0, 2.0, 9.0, 9.0],
        }
    )
    k = K.forecast_kpis(scored, PRODUCTS)
    assert value(k, "forecast_wape", "2024-01-01") == pytest.approx(3 / 10)
    assert value(k, "forecast_bias", "2024-01-01") == pytest.approx(-1 / 10)
    assert value(k, "forecast_coverage95", "2024-01-01") == 0.5  # 10 is above A's band
    assert value(k, "forecast_wape", "2024-01-02", "day", "category", "food") == pytest.approx(
        1 / 6
    )
    recs = pd.DataFrame(
        {C.CUSTOMER_ID: ["c1", "c1", "c2"], "rank": [1, 2, 1], C.SKU: ["A", "B", "A"]}
    )
    buys = pd.DataFrame(
        {
            C.CUSTOMER_ID: ["c1", "c2", "c3", "c2"],
            C.SKU: ["B", "B", "A", "A"],
            "day": pd.to_datetime(["2024-01-03", "2024-01-03", "2024-01-03", "2024-01-04"]),
        }
    )
    h = K.hit_rate_kpis(recs, buys, k=2)
    # day 3: c1 bought a recommended item, c2 did not (c3 had no recommendations); day 4: c2 did
    assert value(h, "rec_hit_rate", "2024-01-03") == 0.5
    assert value(h, "rec_hit_rate", "2024-01-04") == 1.0


def test_hit_rate_drop_is_judged_against_its_own_recent_level():
    k = kpi_series([0.30] * 20 + [0.15, 0.14, 0.16], "rec_hit_rate")
    rule = {"name": "r", "kind": "model_health", "kpi": "rec_hit_rate", "days": 3,
            "drop_pct": 0.3}  # fmt: skip
    (a,) = AL.evaluate(k, [rule], None)
    assert a["expected"] == pytest.approx(0.30) and a["lo"] == pytest.approx(0.21)
    assert AL.evaluate(kpi_series([0.30] * 20 + [0.25] * 3, "rec_hit_rate"), [rule], None) == []
