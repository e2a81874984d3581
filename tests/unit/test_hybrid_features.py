"""The hybrid's history features on a hand-built history, every value worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src.features import columns as C
from src.recsys.hybrid import Hybrid
from src.recsys.models import Popularity

DAY = pd.Timestamp("2024-01-01")


def events(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            C.CUSTOMER_ID: [r[0] for r in rows],
            C.SKU: [r[1] for r in rows],
            C.WEIGHT: 1.0,
            C.TS: [DAY + pd.Timedelta(days=r[2]) for r in rows],
        }
    )


@pytest.fixture
def ctx() -> dict:
    # "now" is day 400; the label window is 28 days, so last year's window is days 35..63
    # (after day 35, up to day 63) and the one before it days 7..35
    ev = events(
        [
            ("a", "x", 10),
            ("a", "x", 40),
            ("a", "y", 40),
            ("a", "x", 100),
            ("a", "z", 400),
            ("b", "x", 50),
            ("b", "y", 200),
            ("b", "y", 300),
            ("c", "y", 20),
        ]
    )
    return Hybrid({"popularity": Popularity}, label_days=28)._context(ev)


def test_pair_features_count_the_customers_own_orders(ctx):
    pair = ctx["pair"]
    # a's purchase days: 10, 40, 100, 400. x bought on 10, 40, 100: since its first purchase
    # the customer ordered 4 times and bought x on 3 of them; one order (day 400) since the last
    assert pair.loc[("a", "x"), "buy_rate"] == pytest.approx(3 / 4)
    assert pair.loc[("a", "x"), "orders_since_bought"] == 1
    assert pair.loc[("a", "z"), "buy_rate"] == 1.0
    assert pair.loc[("a", "z"), "orders_since_bought"] == 0
    assert pair.loc[("a", "y"), "buy_rate"] == pytest.approx(1 / 3)  # days 40, 100, 400
    # last year's window (days 35..63): a bought x and y there, b bought x
    assert pair.loc[("a", "x"), "bought_ly"] == 1
    assert pair.loc[("b", "x"), "bought_ly"] == 1
    assert pair.loc[("b", "y"), "bought_ly"] == 0


def test_customer_features_say_how_much_they_repeat(ctx):
    cust = ctx["cust"]
    # a: 5 events, 3 distinct items -> 2 of 5 purchases were repeats; 4 orders over 390 days
    assert cust.loc["a", "cust_repeat_share"] == pytest.approx(2 / 5)
    assert cust.loc["a", "cust_basket"] == pytest.approx(5 / 4)
    assert cust.loc["a", "cust_gap"] == pytest.approx(390 / 3)
    assert cust.loc["a", "cust_due"] == 0.0
    # b: y twice -> 1 of 3; c: one order, no gap to speak of
    assert cust.loc["b", "cust_repeat_share"] == pytest.approx(1 / 3)
    assert np.isnan(cust.loc["c", "cust_gap"])


def test_item_features_carry_the_season_and_the_cycle(ctx):
    item = ctx["item"]
    # x: 2 buyers in last year's window (a, b), 1 in the window before it (a on day 10)
    assert item.loc["x", "pop_ly"] == 2 and item.loc["x", "pop_ly_before"] == 1
    assert item.loc["x", "season_ratio"] == pytest.approx(3 / 2)
    # y: a on 40 (in the window), c on 20 (before)
    assert item.loc["y", "season_ratio"] == pytest.approx(2 / 2)
    # x's cycle: only a bought it on 2+ days, mean gap (100 - 10) / 2 = 45
    assert item.loc["x", "item_gap"] == pytest.approx(45.0)
    # y: b's gap of 100 days is the only one
    assert item.loc["y", "item_gap"] == pytest.approx(100.0)
    assert np.isnan(item.loc["z", "item_gap"])


def test_candidate_features_fill_what_the_customer_never_bought(ctx):
    h = Hybrid({"popularity": Popularity}, label_days=28)
    h.segments_ = {}
    cand = pd.DataFrame({C.CUSTOMER_ID: ["a", "a", "c"], C.SKU: ["x", "y", "x"], "m_score": 1.0})
    f = h._features(cand, ctx)
    assert list(f.columns[:3]) == [C.CUSTOMER_ID, C.SKU, "m_score"]
    a_x, a_y, c_x = f.itertuples(index=False)
    # a last bought x on day 100, 300 days before now; x's usual cycle is 45 days
    assert a_x.days_since_bought == 300 and a_x.item_due == pytest.approx(300 / 45)
    # y's usual cycle is 100 days (b's)
    assert a_y.item_due == pytest.approx(360 / 100)
    # c never bought x: no purchase, no cycle position, never bought last year
    assert c_x.times_bought == 0 and c_x.days_since_bought == 9999.0
    assert c_x.bought_ly == 0 and np.isnan(c_x.item_due) and np.isnan(c_x.buy_rate)
    assert c_x.cust_orders == 1


@pytest.mark.parametrize("mode", ["all", "new"])
def test_training_frame_drops_label_less_customers_before_featuring_with_the_same_rows(mode):
    from src.recsys.repeat import TIFUKNN

    rng = np.random.default_rng(5)
    hist = events([(f"c{c}", f"s{rng.integers(30)}", int(rng.integers(300)))
                   for c in range(40) for _ in range(12)])  # fmt: skip
    label = events([(f"c{c}", f"s{rng.integers(30)}", 310) for c in range(0, 40, 2)])
    h = Hybrid({"popularity": Popularity, "tifu_knn": TIFUKNN}, mode=mode, n_candidates=5)
    h.segments_ = {}
    f, _ = h._training_frame(hist, label, np.random.default_rng(0))
    # the same frame the long way: every candidate featured, labelled, label-less groups dropped
    models = {n: make().fit(hist) for n, make in h.candidates.items()}
    users = np.intersect1d(hist[C.CUSTOMER_ID].unique(), label[C.CUSTOMER_ID].unique())
    full = h._features(h._candidate_frame(models, list(users)), h._context(hist))
    truth = label[[C.CUSTOMER_ID, C.SKU]].drop_duplicates()
    if mode == "new":
        seen = hist[[C.CUSTOMER_ID, C.SKU]].drop_duplicates().assign(_seen=1)
        truth = truth.merge(seen, how="left").query("_seen.isna()").drop(columns="_seen")
    full = full.merge(truth.assign(label=1), how="left", on=[C.CUSTOMER_ID, C.SKU])
    full["label"] = full["label"].fillna(0).astype(int)
    full = full[full.groupby(C.CUSTOMER_ID)["label"].transform("max") > 0]
    assert 0 < full[C.CUSTOMER_ID].nunique() < len(users)  # some groups did go
    pd.testing.assert_frame_equal(
        f[full.columns].reset_index(drop=True), full.reset_index(drop=True)
    )
    assert h.feature_columns(f) == h.feature_columns(full)
