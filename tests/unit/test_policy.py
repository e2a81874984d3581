"""Inventory policy layer: hand-computed formulas and properties that must always hold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from src.forecast.paths import daily_paths, period_demand
from src.policy.classify import abc_classes, classify, cost_service_levels, xyz_classes
from src.policy.levels import PolicySpec, policy_levels
from src.policy.policies import (
    critical_ratio,
    economic_order_quantity,
    expected_fill_rate,
    inventory_position,
    newsvendor_quantity,
    normal_level,
    order_quantity,
    protection_moments,
    round_to_pack,
)
from src.policy.simulate import Plan, SimSettings, merge, simulate

LEVELS = np.array([0.005, 0.025, 0.165, 0.25, 0.5, 0.75, 0.835, 0.975, 0.995])


def poisson_forecast(rate: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean (N, h) and Poisson quantiles (N, h, 9) for constant daily rates."""
    mean = np.repeat(np.asarray(rate, float)[:, None], h, axis=1)
    q = np.stack([stats.poisson.ppf(lv, np.maximum(mean, 1e-12)) for lv in LEVELS], axis=2)
    return mean, q


# --- formulas against hand-computed cases -------------------------------------------------


def test_inventory_position_is_on_hand_plus_on_order_minus_backorders():
    assert inventory_position(10, 5, 3) == 12
    np.testing.assert_array_equal(inventory_position([0, 4], [6, 0], [1, 0]), [5, 4])


def test_order_quantities_by_hand():
    # (R, S): S - IP, never negative
    np.testing.assert_array_equal(order_quantity("RS", [12, 50], [40, 40]), [28, 0])
    # (s, S): only at or below s
    np.testing.assert_array_equal(
        order_quantity("sS", [9, 10, 11], [30] * 3, [10] * 3), [21, 20, 0]
    )
    # (s, Q): smallest multiple of Q lifting IP above s: IP 3, s 10, Q 5 -> 10 (IP 13 > 10)
    np.testing.assert_array_equal(
        order_quantity("sQ", [3, 10, 11], [0] * 3, [10] * 3, [5] * 3), [10, 5, 0]
    )


def test_rounding_to_moq_and_case_packs_by_hand():
    np.testing.assert_array_equal(
        round_to_pack([0, 1, 13, 25], moq=12, case_pack=6), [0, 12, 18, 30]
    )
    np.testing.assert_array_equal(
        round_to_pack([7], moq=10, case_pack=4), [12]
    )  # MOQ lifted to a case
    np.testing.assert_array_equal(round_to_pack([-3, 2.2]), [0, 3])


def test_normal_safety_stock_and_lead_time_variability_by_hand():
    # daily mean 10, sd 4, L 4, R 5: mean 90, sd = sqrt(9 * 16) = 12; sd_L 1 adds 10^2 * 1
    mean, sd = protection_moments(10, 4, 4, 5)
    assert mean == 90 and sd == pytest.approx(12.0)
    _, sd_lt = protection_moments(10, 4, 4, 5, lead_time_std=1)
    assert sd_lt == pytest.approx(np.sqrt(144 + 100))
    assert normal_level(90, 12, 0.95) == pytest.approx(90 + 1.6448536 * 12)


def test_newsvendor_by_hand():
    # price 10, cost 6, salvage 2: Cu 4, Co 4 -> 0.5; penalty 4 -> 8/12
    assert critical_ratio(10, 6, 2) == pytest.approx(0.5)
    assert critical_ratio(10, 6, 2, shortage_penalty=4) == pytest.approx(8 / 12)
    samples = np.arange(1, 101, dtype=float)[None, :]  # uniform 1..100
    assert newsvendor_quantity(samples, 0.5)[0] == 50
    assert newsvendor_quantity(samples, 0.9)[0] == 90
    with pytest.raises(ValueError, match="newsvendor"):
        critical_ratio(5, 6)


def test_eoq_by_hand():
    # D 1200/yr, K 50, h 3 -> sqrt(2*1200*50/3) = 200
    assert economic_order_quantity(1200, 50, 3) == pytest.approx(200.0)


def test_levels_from_quantiles_match_the_exact_poisson_sum():
    """Independent days (rho=0), Poisson(2)/day, L+R = 14: S(95%) ~ Poisson(28) quantile."""
    mean, q = poisson_forecast(np.array([2.0]), 21)
    spec = PolicySpec(kind="RS", review_period=7, rho=0.0, draws=20000, seed=3)
    lv = policy_levels(mean, q, LEVELS, 0.95, 7, spec)
    exact = stats.poisson.ppf(0.95, 28)
    assert abs(lv.order_up_to[0] - exact) <= 2.5  # interpolated quantile functions, 20k draws
    assert lv.expected_demand[0] == pytest.approx(28.0)
    assert lv.safety_stock[0] == pytest.approx(lv.order_up_to[0] - 28.0)
    assert 0.9 < lv.expected_fill_rate[0] <= 1.0


def test_comonotone_days_widen_the_protection_distribution():
    mean, q = poisson_forecast(np.array([3.0]), 14)
    s0 = period_demand(daily_paths(q, LEVELS, 4000, rho=0.0, seed=1), 14)
    s1 = period_demand(daily_paths(q, LEVELS, 4000, rho=1.0, seed=1), 14)
    assert s1.std() > 2 * s0.std()
    assert s0.mean() == pytest.approx(s1.mean(), rel=0.05)


def test_lead_time_variability_raises_the_reorder_point():
    mean, q = poisson_forecast(np.array([5.0]), 30)
    fixed = policy_levels(mean, q, LEVELS, 0.95, 7, PolicySpec(kind="sQ", rho=0.0, draws=4000))
    varied = policy_levels(
        mean, q, LEVELS, 0.95, 7, PolicySpec(kind="sQ", rho=0.0, draws=4000, lead_time_std=2)
    )
    assert varied.reorder_point[0] > fixed.reorder_point[0]


def test_short_forecast_horizon_is_refused():
    mean, q = poisson_forecast(np.array([1.0]), 10)
    with pytest.raises(ValueError, match="horizon 10 is shorter"):
        policy_levels(mean, q, LEVELS, 0.9, 7, PolicySpec(kind="RS", review_period=7))


def test_expected_fill_rate_by_hand():
    samples = np.array([[0.0, 10.0]])  # half the time 0, half the time 10
    assert expected_fill_rate(samples, [5.0])[0] == pytest.approx(0.5)
    assert expected_fill_rate(np.zeros((1, 3)), [0.0])[0] == 1.0


# --- classes ------------------------------------------------------------------------------


def test_abc_by_revenue_share_by_hand():
    rev = pd.Series({"a": 70.0, "b": 15.0, "c": 10.0, "d": 5.0})
    cls = abc_classes(rev, {"A": 0.7, "B": 0.9})
    assert cls.to_dict() == {"a": "A", "b": "B", "c": "B", "d": "C"}


def test_xyz_by_cv_and_classify_on_a_panel():
    assert xyz_classes(pd.Series([0.2, 0.7, 3.0, np.nan]), {"X": 0.5, "Y": 1.0}).tolist() == [
        "X",
        "Y",
        "Z",
        "Z",
    ]
    ds = pd.date_range("2024-01-01", periods=70, freq="D")
    steady = pd.DataFrame({"unique_id": "s", "ds": ds, "y": 10.0, "price": 1.0})
    lumpy = pd.DataFrame(
        {
            "unique_id": "l",
            "ds": ds,
            "y": np.where(np.arange(70) % 30 == 0, 50.0, 0.0),
            "price": 1.0,
        }
    )
    out = classify(pd.concat([steady, lumpy]), {"A": 0.8, "B": 0.95}, {"X": 0.5, "Y": 1.0})
    got = out.set_index("unique_id")
    assert got.loc["s", "xyz_class"] == "X" and got.loc["l", "xyz_class"] == "Z"
    assert got.loc["s", "abc_class"] == "A"


def test_cost_based_service_levels_favour_cheap_items():
    sl = cost_service_levels(
        [0.5, 5.0, 50.0], shortage_cost=0.1, holding_rate=0.25, review_period=7
    )
    assert sl[0] > sl[1] > sl[2]
    # p / (p + h v R / 365) by hand for v = 5
    assert sl[1] == pytest.approx(0.1 / (0.1 + 0.25 * 5 * 7 / 365))


# --- properties -----------------------------------------------------------------------------

rates = st.lists(st.floats(0.0, 30.0), min_size=1, max_size=4)


@settings(max_examples=25, deadline=None)
@given(rates, st.floats(0.5, 0.97), st.floats(0.005, 0.02), st.sampled_from(["RS", "sS", "sQ"]))
def test_higher_service_level_never_lowers_order_up_to(rate, sl, step, kind):
    mean, q = poisson_forecast(np.array(rate), 21)
    spec = PolicySpec(kind=kind, rho=0.3, draws=500)
    low = policy_levels(mean, q, LEVELS, sl, 7, spec)
    high = policy_levels(mean, q, LEVELS, min(sl + step, 0.999), 7, spec)
    assert np.all(high.order_up_to >= low.order_up_to)
    assert np.all(high.reorder_point >= low.reorder_point)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(0.0, 1000.0), min_size=1, max_size=5), st.sampled_from(["RS", "sS", "sQ"])
)
def test_zero_forecast_and_enough_stock_orders_nothing(stock, kind):
    mean, q = poisson_forecast(np.zeros(len(stock)), 21)
    lv = policy_levels(mean, q, LEVELS, 0.98, 7, PolicySpec(kind=kind, draws=200))
    qty = order_quantity(kind, np.array(stock), lv.order_up_to, lv.reorder_point, lv.lot_size)
    qty = round_to_pack(qty, moq=10, case_pack=6)
    assert np.all(qty == 0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-50.0, 500.0), min_size=1, max_size=6),
    st.floats(0.0, 100.0),
    st.integers(1, 48),
)
def test_orders_never_negative_and_respect_moq_and_case_packs(qty, moq, pack):
    out = round_to_pack(np.array(qty), moq, pack)
    assert np.all(out >= 0)
    positive = out > 0
    assert np.all(out[positive] >= moq - 1e-9)
    assert np.allclose(out[positive] / pack, np.round(out[positive] / pack))
    assert np.all(out[np.array(qty) <= 0] == 0)
    assert np.all(out >= np.maximum(np.array(qty), 0) - 1e-9)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 4),
    st.integers(5, 40),
    st.sampled_from(["RS", "sS", "sQ"]),
    st.booleans(),
    st.integers(0, 10_000),
    st.integers(1, 12),
)
def test_simulation_conserves_units(n, days, kind, lost_sales, seed, pack):
    rng = np.random.default_rng(seed)
    demand = rng.poisson(rng.uniform(0, 8, size=(n, 1)), size=(n, days)).astype(float)
    demand[:, rng.integers(0, days)] += rng.integers(0, 60)  # a spike
    updates = np.arange(0, days, 7)
    S = rng.uniform(0, 80, size=(len(updates), n))
    plan = Plan(kind, S, updates, S * 0.4, np.maximum(S * 0.5, 1))
    cfg = SimSettings(
        lead_time=int(rng.integers(1, 8)),
        lost_sales=lost_sales,
        lead_time_std=float(seed % 3),
        moq=float(seed % 7),
        case_pack=float(pack),
        seed=seed,
    )
    res = simulate(demand, plan, cfg, initial_on_hand=rng.uniform(0, 30, n))
    ps = res.per_series
    np.testing.assert_allclose(
        ps["start_units"] + ps["received_units"], ps["shipped_units"] + ps["end_units"], atol=1e-6
    )
    assert np.all(ps["shipped_units"] <= demand.sum(axis=1) + 1e-6)
    assert 0.0 <= res.kpis["fill_rate"] <= 1.0


def test_simulation_by_hand():
    """One series, S = 10, L = 2, weekly review, lost sales; demand 4/day."""
    demand = np.full((1, 7), 4.0)
    res = simulate(demand, Plan("RS", [[10.0]], [0]), SimSettings(lead_time=2, review_period=7))
    # day 0: IP 10 -> no order; serve 4, 4, 2 (lost 2), then nothing: served 10 of 28
    assert res.kpis["fill_rate"] == pytest.approx(10 / 28)
    assert res.kpis["orders_placed"] == 0
    assert res.per_series["stockout_days"].iloc[0] == 5
    # with backorders the same plan still serves 10 units on time
    bo = simulate(demand, Plan("RS", [[10.0]], [0]), SimSettings(lead_time=2, lost_sales=False))
    assert bo.kpis["fill_rate"] == pytest.approx(10 / 28)


def test_simulation_orders_arrive_after_the_lead_time():
    demand = np.zeros((1, 10))
    demand[0, 5] = 8
    res = simulate(
        demand,
        Plan("RS", [[8.0]], [0]),
        SimSettings(lead_time=3, review_period=7),
        initial_on_hand=np.zeros(1),
    )
    # ordered 8 on day 0, arrives day 3, serves the 8 on day 5
    assert res.kpis["fill_rate"] == 1.0
    assert res.daily["ordered_units"].iloc[0] == 8


# --- transfers and cancellations ------------------------------------------------------------


def test_transfers_by_hand():
    from src.policy.suggest import plan_transfers

    s = pd.DataFrame(
        {
            "location_id": ["north", "south", "east"],
            "sku": ["A", "A", "A"],
            "on_hand": [200.0, 0.0, 5.0],
            "inventory_position": [200.0, 0.0, 5.0],
            "mean_daily_demand": [1.0, 2.0, 1.0],
            "order_up_to": [30.0, 40.0, 20.0],
            "order_qty_unrounded": [0.0, 40.0, 15.0],
            "order_qty": [0.0, 40.0, 15.0],
            "moq": [0.0, 0.0, 0.0],
            "case_pack": [5.0, 5.0, 5.0],
            "unit_value": [2.0, 2.0, 2.0],
            "transfer_in": 0.0,
            "transfer_out": 0.0,
            "inventory_known": True,
            "policy": "RS",
            "service_level": 0.95,
            "protection_days": 14.0,
            "safety_stock": 5.0,
            "reorder_point": 10.0,
            "lot_size": 10.0,
        }
    )
    s["days_of_cover"] = s["on_hand"] / s["mean_daily_demand"]
    out, t = plan_transfers(s, excess_days=60)
    # north holds 200 days, keeps max(S 30, 60 days x 1) = 60 -> 140 spare; south needs 40, east 15
    assert t[["from_location", "to_location", "qty"]].values.tolist() == [
        ["north", "south", 40.0],
        ["north", "east", 15.0],
    ]
    assert out.set_index("location_id")["order_qty"].to_dict() == {
        "north": 0,
        "south": 0,
        "east": 0,
    }
    assert out.set_index("location_id").loc["north", "transfer_out"] == 55
    assert "send 55" in out.set_index("location_id").loc["north", "reason"]


def test_cancelled_sales_are_not_demand():
    from src.features.panel import kept_share

    tx = pd.DataFrame(
        {
            "order_id": ["o1", "o1", "o2", "r1", "r2"],
            "sku": ["A", "B", "A", "A", "B"],
            "ts": pd.to_datetime(
                [
                    "2024-01-01 10:00",
                    "2024-01-01 10:00",
                    "2024-01-02 09:00",
                    "2024-01-01 10:12",
                    "2024-01-20 09:00",
                ]
            ),
            "qty": [100.0, 4.0, 3.0, -100.0, -4.0],
            "line_type": ["sale", "sale", "sale", "return", "return"],
            "linked_order_id": [None, None, None, "o1", "o1"],
        }
    )
    sales = tx[tx["line_type"] == "sale"]
    # A in o1 cancelled within minutes; B returned 19 days later is a real sale and return
    np.testing.assert_array_equal(kept_share(tx, sales, 1.0), [0.0, 1.0, 1.0])


def test_review_day_forecasts_never_see_the_review_day():
    """Rolling re-forecasts are the forecasting refit loop, cut the eve of every review day."""
    from src.features import columns as C
    from src.forecast.baselines import Croston
    from src.forecast.generators import daily_panel
    from src.policy.evaluate import history_from_panel, rolling_forecasts

    panel, static = daily_panel(n_series=3, length=120, seed=4)
    panel = panel.drop(columns="true_rate")
    seen = []

    class Spy(Croston):
        def _fit(self, p, static_df):
            seen.append(p[C.DS].max())
            super()._fit(p, static_df)

    start = panel[C.DS].max() - pd.Timedelta(days=27)
    hist = history_from_panel(panel, start, 28, lead_time=7, review_period=7)
    fc = rolling_forecasts(panel, static, lambda: Spy("tsb"), hist, 14)
    reviews = [hist.dates[hist.start + r] for r in hist.review_days]
    assert seen == [r - pd.Timedelta(days=1) for r in reviews]  # data up to the eve only
    assert sorted(fc) == list(hist.review_days)
    assert all(f.mean.shape == (3, 14) for f in fc.values())


def test_partition_results_merge_to_the_whole():
    """The replay of disjoint groups of series, merged, summarises like one replay of all."""
    rng = np.random.default_rng(3)
    n, days = 40, 56
    demand = rng.poisson(rng.uniform(0, 6, size=(n, 1)), size=(n, days)).astype(float)
    updates = np.arange(0, days, 7)
    S = rng.uniform(0, 60, size=(len(updates), n))
    value = rng.uniform(1, 20, n)
    cfg = SimSettings(lead_time=4, lost_sales=True)
    whole = simulate(demand, Plan("RS", S, updates), cfg, value, ids=np.arange(n))
    idx = [np.arange(0, n, 3), np.setdiff1d(np.arange(n), np.arange(0, n, 3))]
    parts = [
        simulate(demand[i], Plan("RS", S[:, i], updates), cfg, value[i], ids=np.arange(n)[i])
        for i in idx
    ]
    merged = merge(parts)
    for k, v in whole.kpis.items():
        assert merged.kpis[k] == pytest.approx(v, rel=1e-12), k
    pd.testing.assert_frame_equal(merged.daily, whole.daily, check_exact=False, rtol=1e-12)


@pytest.mark.parametrize("lead_time_std", [0.0, 1.5])
def test_protection_draws_in_blocks_equal_drawing_every_series_at_once(lead_time_std):
    """make_plan draws daily paths a block of series at a time (memory per block, not per
    catalogue); the draws are the ones a single all-series draw gives, bit for bit."""
    from src.forecast.paths import lead_time_draws
    from src.policy.levels import protection_samples

    rng = np.random.default_rng(4)
    levels = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
    q = np.sort(rng.gamma(1.0, 2.0, size=(53, 21, len(levels))), axis=2)
    lt = rng.choice([3.0, 7.0], size=53)
    spec = PolicySpec(draws=64)
    spec.lead_time_std = lead_time_std
    paths = daily_paths(q, levels, spec.draws, spec.rho, spec.seed)  # all at once
    want_l, want_lr = np.empty((53, 64)), np.empty((53, 64))
    for v in (3.0, 7.0):
        idx = np.flatnonzero(lt == v)
        drawn = lead_time_draws(len(idx), 64, v, lead_time_std, spec.seed + 1)
        want_l[idx] = period_demand(paths[idx], v, lead_times=drawn)
        want_lr[idx] = period_demand(paths[idx], v, extra_days=spec.review_period, lead_times=drawn)
    for rows in (1, 10, 53, 500):
        got_l, got_lr = protection_samples(q, levels, lt, spec, rows=rows)
        assert np.array_equal(got_l, want_l) and np.array_equal(got_lr, want_lr)


# --- choosing the forecaster by the quantity the policy orders from ------------------------


def test_protection_pinball_on_the_policy_quantiles_scores_the_upper_tail():
    """An order-up-to policy reads the upper quantiles of the lead-time + review demand: scored
    at those levels, a forecast with the right upper tail (and a useless lower one) beats one
    with the right median and lower tail but a capped top; over the whole M5 grid the true
    distribution beats both."""
    from src.policy.evaluate import History, OriginForecast, protection_pinball

    rng = np.random.default_rng(0)
    n, t, start, days = 40, 140, 112, 28
    y = rng.poisson(4.0, size=(n, t)).astype(float)
    hist = History(
        ids=np.array([f"s{i}" for i in range(n)]),
        dates=pd.date_range("2024-01-01", periods=t, freq="D"),
        y=y,
        start=start,
        days=days,
        unit_value=np.ones(n),
        lead_time=np.full(n, 7.0),
        review_period=7,
    )
    mean, q = poisson_forecast(np.full(n, 4.0), 14)
    upper_right = q.copy()
    upper_right[:, :, LEVELS < 0.5] = 0.0  # nothing known below the median
    capped = q.copy()
    capped[:, :, LEVELS > 0.5] = q[:, :, [4]]  # nothing stated above the median
    origins = {
        name: {r: OriginForecast(mean, qq, LEVELS) for r in (0, 7, 14)}
        for name, qq in {"true": q, "upper_right": upper_right, "capped": capped}.items()
    }
    policy = (0.8, 0.9, 0.95, 0.98)
    at = {
        name: protection_pinball(hist, fc, 0.0, draws=400, grid=policy)["wpspl_14"]
        for name, fc in origins.items()
    }
    assert at["true"] < at["capped"] and at["upper_right"] < at["capped"]
    full = {name: protection_pinball(hist, fc, 0.0, draws=400) for name, fc in origins.items()}
    assert full["true"]["wpspl_14"] < min(
        full["capped"]["wpspl_14"], full["upper_right"]["wpspl_14"]
    )
    assert full["true"]["origins"] == 3
    # more grids on the same sampled paths give what separate calls give
    both = protection_pinball(hist, origins["capped"], 0.0, draws=400, also={"policy": policy})
    assert both["wpspl_14"] == full["capped"]["wpspl_14"]
    assert both["wpspl_14_policy"] == at["capped"]
    # the default is the M5 grid
    m5 = protection_pinball(hist, origins["true"], 0.0, draws=400, grid=tuple(LEVELS))
    assert m5["wpspl_14"] == pytest.approx(full["true"]["wpspl_14"])
