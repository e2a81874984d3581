"""Feature builders on hand-made canonical tables with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src.features import columns as C
from src.features.interactions import interactions
from src.features.lifecycle import lifecycle_stages, rfm
from src.features.panel import PanelSpec, demand_panel, future_calendar
from src.features.tables import conform


def tx_frame(rows):
    cols = [
        C.ORDER_ID,
        C.TS,
        C.CUSTOMER_ID,
        C.LOCATION_ID,
        C.SKU,
        C.QTY,
        C.UNIT_PRICE,
        C.PROMO,
        C.LINE_TYPE,
    ]
    df = pd.DataFrame(rows, columns=cols)
    df[C.TS] = pd.to_datetime(df[C.TS])
    df[C.LINE] = df.groupby(C.ORDER_ID).cumcount() + 1
    df[C.CHANNEL] = "web"
    df[C.LINKED_ORDER_ID] = None
    df[C.SOURCE] = "test"
    return conform("transactions", df)


@pytest.fixture
def tables():
    tx = tx_frame(
        [
            ("o1", "2024-01-01 10:00", "c1", "L1", "A", 2, 10.0, False, "sale"),
            ("o1", "2024-01-01 10:00", "c1", "L1", "B", 1, 4.0, False, "sale"),
            ("o2", "2024-01-03 09:00", "c2", "L2", "A", 3, 8.0, True, "sale"),
            ("o3", "2024-01-03 12:00", "c1", "L1", "A", 1, 10.0, False, "sale"),
            ("r1", "2024-01-04 12:00", "c1", "L1", "A", -1, 10.0, False, "return"),
            ("o4", "2024-01-06 12:00", None, "L1", "POST", 1, 5.0, False, "sale"),
            ("o5", "2024-01-08 12:00", "c3", "L2", "B", 5, 4.0, False, "sale"),
        ]
    )
    products = conform(
        "products",
        pd.DataFrame(
            {
                C.SKU: ["A", "B", "POST"],
                C.NAME: ["a", "b", "post"],
                C.CATEGORY: ["cups", "cups", C.NON_MERCHANDISE],
                C.SUBCATEGORY: None,
                C.UNIT_COST: np.nan,
                C.IS_MERCHANDISE: [True, True, False],
            }
        ),
    )
    return tx, products


def test_daily_sku_panel_zero_filled_from_first_sale(tables):
    tx, products = tables
    panel, static = demand_panel(
        tx, products, PanelSpec(level="sku", freq="D", holiday_country=None)
    )
    a = panel[panel[C.UNIQUE_ID] == "A"].set_index(C.DS)
    assert a.index.min() == pd.Timestamp("2024-01-01") and a.index.max() == pd.Timestamp(
        "2024-01-08"
    )
    assert a[C.Y].tolist() == [2, 0, 4, 0, 0, 0, 0, 0]  # the return is not negative demand
    assert a.loc["2024-01-03", C.PRICE] == pytest.approx((3 * 8 + 10) / 4)
    assert a.loc["2024-01-05", C.PRICE] == pytest.approx(8.5)  # carried forward
    assert a.loc["2024-01-03", C.PROMO] == pytest.approx(3 / 4)
    assert a.loc["2024-01-01", "dow"] == 0
    b = panel[panel[C.UNIQUE_ID] == "B"]
    assert b[C.DS].min() == pd.Timestamp("2024-01-01") and b[C.Y].sum() == 6
    assert "POST" not in set(panel[C.UNIQUE_ID])  # non-merchandise is not demand
    assert static.set_index(C.UNIQUE_ID).loc["A", C.CATEGORY] == "cups"


def test_returns_can_be_netted(tables):
    tx, products = tables
    panel, _ = demand_panel(
        tx, products, PanelSpec(freq="D", include_returns=True, holiday_country=None)
    )
    assert panel.loc[panel[C.UNIQUE_ID] == "A", C.Y].sum() == 5


def test_sku_location_weekly_panel(tables):
    tx, products = tables
    panel, static = demand_panel(
        tx, products, PanelSpec(level="sku_location", freq="W", holiday_country=None)
    )
    assert set(panel[C.UNIQUE_ID]) == {"A@L1", "A@L2", "B@L1", "B@L2"}
    w = panel.set_index([C.UNIQUE_ID, C.DS])[C.Y]
    assert w[("A@L1", pd.Timestamp("2024-01-01"))] == 3  # Mon 1st .. Sun 7th
    assert w[("B@L2", pd.Timestamp("2024-01-08"))] == 5
    assert static.set_index(C.UNIQUE_ID).loc["A@L2", C.LOCATION_ID] == "L2"


def test_category_location_monthly_with_global_start_and_holidays(tables):
    tx, products = tables
    spec = PanelSpec(
        level="category_location", freq="MS", start="global", end="2024-03-01", holiday_country="GB"
    )
    panel, _ = demand_panel(tx, products, spec)
    assert set(panel[C.UNIQUE_ID]) == {"cups@L1", "cups@L2"}
    m = panel.set_index([C.UNIQUE_ID, C.DS])
    assert m.loc[("cups@L2", pd.Timestamp("2024-01-01")), C.Y] == 8
    assert m.loc[("cups@L2", pd.Timestamp("2024-03-01")), C.Y] == 0  # zero-filled to `end`
    assert m.loc[("cups@L1", pd.Timestamp("2024-01-01")), "holiday"] == 1  # New Year's Day
    assert m.loc[("cups@L1", pd.Timestamp("2024-02-01")), "holiday"] == 0


def test_future_calendar_is_known_ahead():
    fut = future_calendar(pd.Timestamp("2024-12-23"), 7, "D", "GB")
    assert fut[C.DS].tolist()[0] == pd.Timestamp("2024-12-24") and len(fut) == 7
    assert fut.set_index(C.DS).loc["2024-12-25", "holiday"] == 1


def test_panel_spec_rejects_unknown_values():
    with pytest.raises(ValueError, match="level"):
        PanelSpec(level="store")
    with pytest.raises(ValueError, match="freq"):
        PanelSpec(freq="H")


def test_interactions_one_row_per_purchase_day(tables):
    tx, products = tables
    out = interactions(tx, products)  # value=count
    assert list(out.columns) == C.INTERACTIONS
    rows = list(zip(out[C.CUSTOMER_ID], out[C.SKU], out[C.TS].dt.strftime("%m-%d"), strict=True))
    # canonical order (ts, customer, sku); anonymous, non-merchandise and return lines left out
    assert rows == [
        ("c1", "A", "01-01"),
        ("c1", "B", "01-01"),
        ("c1", "A", "01-03"),
        ("c2", "A", "01-03"),
        ("c3", "B", "01-08"),
    ]
    assert out[C.WEIGHT].tolist() == [1.0] * 5


def test_interactions_value_and_window(tables):
    tx, products = tables
    qty = interactions(tx, products, value="qty")
    assert qty[C.WEIGHT].tolist() == [2.0, 1.0, 1.0, 3.0, 5.0]
    revenue = interactions(tx, products, value="revenue")
    assert revenue[C.WEIGHT].tolist() == [20.0, 4.0, 10.0, 24.0, 20.0]
    window = interactions(tx, products, start="2024-01-03", end="2024-01-08")
    assert list(window[C.CUSTOMER_ID]) == ["c1", "c2"]
    with pytest.raises(ValueError, match="interaction value"):
        interactions(tx, products, value="margin")


@pytest.mark.parametrize(
    "as_of", ["2024-01-02", "2024-01-04", "2024-02-05", "2024-03-01", "2024-06-01"]
)
def test_lifecycle_at_a_cutoff_matches_rfm(tables, as_of):
    """The recommenders' stages at the cut-off (from purchase events) are rfm's stages."""
    tx, products = tables
    thresholds = {"new_days": 30, "active_days": 60, "at_risk_days": 90}
    expected = rfm(tx, products, as_of=as_of, **thresholds)
    got = lifecycle_stages(interactions(tx, products), as_of, **thresholds)
    assert got == dict(zip(expected[C.CUSTOMER_ID], expected[C.LIFECYCLE], strict=True))


def test_rfm_and_lifecycle(tables):
    tx, products = tables
    out = rfm(
        tx, products, as_of="2024-03-01", n_bins=3, new_days=30, active_days=60, at_risk_days=90
    ).set_index(C.CUSTOMER_ID)
    assert out.loc["c1", C.FREQUENCY] == 2
    assert out.loc["c1", C.MONETARY] == pytest.approx(20 + 4 + 10 - 10)  # returns are netted
    assert out.loc["c3", C.RECENCY_DAYS] == pytest.approx(52.5)
    assert out.loc["c3", C.R_SCORE] == 3 and out.loc["c1", C.F_SCORE] == 3
    assert out.loc["c3", C.LIFECYCLE] == "active"  # last buy 52 days ago
    assert out.loc["c1", C.LIFECYCLE] == "active"
    later = rfm(
        tx, products, as_of="2024-05-01", new_days=30, active_days=60, at_risk_days=120
    ).set_index(C.CUSTOMER_ID)
    assert later.loc["c3", C.LIFECYCLE] == "at_risk" and later.loc["c1", C.LIFECYCLE] == "at_risk"
    dormant = rfm(tx, products, as_of="2024-12-01").set_index(C.CUSTOMER_ID)
    assert (dormant[C.LIFECYCLE] == "dormant").all()
    fresh = rfm(tx, products, as_of="2024-01-10").set_index(C.CUSTOMER_ID)
    assert (fresh[C.LIFECYCLE] == "new").all()
    assert (
        out.loc["c1", C.RFM_SCORE]
        == f"{out.loc['c1', C.R_SCORE]}{out.loc['c1', C.F_SCORE]}{out.loc['c1', C.M_SCORE]}"
    )


def test_rfm_thresholds_must_be_ordered(tables):
    tx, products = tables
    with pytest.raises(ValueError, match="new_days <= active_days"):
        rfm(tx, products, new_days=100, active_days=30)
