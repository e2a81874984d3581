"""Forecast metrics against values computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src.features import columns as C
from src.forecast import metrics as M


def test_rmsse_uses_naive_errors_from_the_first_sale():
    train = np.array([0, 0, 2, 4, 2])  # from first sale: 2,4,2 -> diffs 2,-2 -> scale 4
    assert M.rmsse_scale(train) == pytest.approx(4.0)
    # errors 1 and -3 -> mse 5 -> sqrt(5/4)
    assert M.rmsse([3, 1], [2, 4], train) == pytest.approx(np.sqrt(5 / 4))


def test_mase_and_bias():
    train = np.array([1, 3, 2, 5])  # |diffs| 2,1,3 -> 2
    assert M.mase([4, 4], [3, 6], train) == pytest.approx(1.5 / 2)
    assert M.bias([4, 4], [3, 6]) == pytest.approx(1 / 8)


def test_pinball_hand_computed():
    # q=0.9: y=10, yq=8 -> 0.9*2=1.8 ; y=10, yq=12 -> 0.1*2=0.2 -> mean 1.0
    assert M.pinball([10, 10], [8, 12], 0.9) == pytest.approx(1.0)
    assert M.pinball([10], [10], 0.5) == 0.0


def test_spl_scaled_by_mean_absolute_naive_error():
    train = np.array([0, 2, 4, 2])  # from first sale 2,4,2 -> |diffs| 2,2 -> scale 2
    y = np.array([3.0])
    qs = np.array([[2.0, 3.0]])  # q=0.5 off by 1 -> 0.5 ; q=0.9 exact -> 0
    assert M.spl(y, qs, [0.5, 0.9], train) == pytest.approx(((0.5 + 0.0) / 2) / 2)


def test_coverage_and_quantile_names():
    assert M.coverage([1, 5, 9], [0, 6, 0], [2, 7, 10]) == pytest.approx(2 / 3)
    assert [M.quantile_column(q) for q in (0.005, 0.5, 0.835)] == ["q0.005", "q0.5", "q0.835"]


def test_revenue_weights_last_28_days():
    ds = pd.date_range("2024-01-01", periods=40)
    train = pd.DataFrame(
        {
            C.UNIQUE_ID: np.repeat(["a", "b"], 40),
            C.DS: np.tile(ds, 2),
            C.Y: np.r_[np.ones(40), np.r_[np.full(12, 100.0), np.ones(28)]],
            C.PRICE: np.r_[np.full(40, 3.0), np.full(40, 1.0)],
        }
    )
    w = M.revenue_weights(train)
    assert w["a"] == pytest.approx(84 / (84 + 28)) and w["b"] == pytest.approx(28 / 112)


def test_evaluate_aggregates_with_weights():
    ds = pd.date_range("2024-01-01", periods=6)
    train = pd.DataFrame(
        {
            C.UNIQUE_ID: np.repeat(["a", "b"], 4),
            C.DS: np.tile(ds[:4], 2),
            C.Y: [1, 3, 1, 3, 2, 2, 4, 4],
            C.PRICE: 1.0,
        }
    )
    actual = pd.DataFrame(
        {C.UNIQUE_ID: ["a", "a", "b", "b"], C.DS: [ds[4], ds[5]] * 2, C.Y: [2, 2, 4, 4]}
    )
    fc = actual.rename(columns={C.Y: M.Y_HAT}).assign(**{M.Y_HAT: [2, 4, 4, 4]})
    per, overall = M.evaluate(
        fc, actual, train, quantiles=(), weights=pd.Series({"a": 0.25, "b": 0.75})
    )
    a = per.set_index(C.UNIQUE_ID)
    assert a.loc["a", "rmsse"] == pytest.approx(np.sqrt(2 / 4))  # scale: diffs 2,-2,2 -> 4
    assert a.loc["b", "rmsse"] == 0.0
    assert overall["wrmsse"] == pytest.approx(0.25 * np.sqrt(0.5))
    assert overall["bias"] == pytest.approx(2 / 12)


def _evaluate_series_by_series(forecasts, actuals, train, quantiles, season=7):
    """The per-series definitions, one series at a time: what ``evaluate`` must reproduce."""
    merged = actuals.merge(forecasts, on=[C.UNIQUE_ID, C.DS])
    qcols = [M.quantile_column(q) for q in quantiles]
    rows = []
    for uid, g in merged.sort_values(C.DS).groupby(C.UNIQUE_ID):
        y, yh = g[C.Y].to_numpy(), g[M.Y_HAT].to_numpy()
        hist = train[train[C.UNIQUE_ID] == uid].sort_values(C.DS)[C.Y].to_numpy()
        rows.append(
            {
                C.UNIQUE_ID: uid,
                "rmsse": M.rmsse(y, yh, hist),
                "mase": M.mase(y, yh, hist, season),
                "mae": float(np.mean(np.abs(y - yh))),
                "bias": M.bias(y, yh),
                "actual": float(y.sum()),
                "forecast": float(yh.sum()),
                "spl": M.spl(y, g[qcols].to_numpy(), quantiles, hist),
                "coverage": M.coverage(y, g["q0.025"].to_numpy(), g["q0.975"].to_numpy()),
            }
        )
    return pd.DataFrame(rows)


def test_evaluate_matches_the_per_series_definitions_on_edge_cases():
    """The vectorised pass equals the array functions series by series: series that never
    sold, sold once, start with zeros, are shorter than a season, have no history at all, or
    an all-zero window (bias undefined)."""
    rng = np.random.default_rng(3)
    days = pd.date_range("2024-01-01", periods=40)
    hist_days, window = days[:30], days[30:]
    series = {
        "a_regular": rng.poisson(3.0, 30),
        "b_never_sold": np.zeros(30),
        "c_sold_once": np.r_[np.zeros(29), 4],
        "d_late_start": np.r_[np.zeros(20), rng.poisson(1.0, 10)],
        "e_intermittent": rng.binomial(1, 0.2, 30) * rng.poisson(5, 30),
    }
    train = pd.concat(
        [
            pd.DataFrame({C.UNIQUE_ID: k, C.DS: hist_days, C.Y: v.astype(float)})
            for k, v in series.items()
        ]
        + [pd.DataFrame({C.UNIQUE_ID: "f_short", C.DS: hist_days[-5:], C.Y: [1.0, 0, 2, 0, 1]})],
        ignore_index=True,
    ).sample(frac=1.0, random_state=0)  # order of rows must not matter
    ids = [*series, "f_short", "g_no_history"]
    actuals = pd.DataFrame(
        {
            C.UNIQUE_ID: np.repeat(ids, len(window)),
            C.DS: np.tile(window, len(ids)),
            C.Y: rng.poisson(2.0, len(ids) * len(window)).astype(float),
        }
    )
    actuals.loc[actuals[C.UNIQUE_ID] == "b_never_sold", C.Y] = 0.0
    qs = (0.025, 0.5, 0.975)
    fc = actuals[[C.UNIQUE_ID, C.DS]].assign(**{M.Y_HAT: rng.gamma(2.0, 1.0, len(actuals))})
    for q in qs:
        fc[M.quantile_column(q)] = fc[M.Y_HAT] * (0.2 + 1.6 * q)
    per_series, overall = M.evaluate(fc, actuals, train, quantiles=qs)
    expected = _evaluate_series_by_series(fc, actuals, train, qs)
    cols = list(expected.columns)
    pd.testing.assert_frame_equal(
        per_series[cols].reset_index(drop=True), expected, check_exact=False, rtol=1e-12
    )
    assert per_series.set_index(C.UNIQUE_ID).loc["b_never_sold", ["rmsse", "bias"]].isna().all()
    assert np.isnan(per_series.set_index(C.UNIQUE_ID).loc["f_short", "mase"])
    assert np.isfinite(overall["wrmsse"])


def test_protection_scores_rank_a_calibrated_forecast_above_a_narrow_one():
    """The policy's own quantity: pinball of lead-time + review demand (issue 13)."""
    from src.forecast.baselines import EmpiricalQuantiles
    from src.forecast.generators import daily_panel
    from src.forecast.paths import protection_scores

    panel, static = daily_panel(n_series=8, length=200, seed=4)
    cut = panel[C.DS].max() - pd.Timedelta(days=28)
    train = panel[panel[C.DS] <= cut].drop(columns="true_rate")
    test = panel[panel[C.DS] > cut]
    fc = EmpiricalQuantiles(window=56).fit(train, static).predict(28)
    per, overall = protection_scores(fc, test, train, days=14, rho=0.3, draws=400)
    assert set(overall) == {"wpspl_14", "coverage90_14"} and len(per) == 8
    actual = test[test[C.DS] <= cut + pd.Timedelta(days=14)].groupby(C.UNIQUE_ID)[C.Y].sum()
    assert np.allclose(
        per.set_index(C.UNIQUE_ID)["protection_actual"], actual.reindex(per[C.UNIQUE_ID])
    )
    # every quantile collapsed onto the mean: same centre, no spread -> a worse score
    narrow = fc.copy()
    for c in [c for c in fc.columns if c.startswith("q")]:
        narrow[c] = fc["y_hat"]
    _, worse = protection_scores(narrow, test, train, days=14, rho=0.3, draws=400)
    assert worse["wpspl_14"] > overall["wpspl_14"]
    assert worse["coverage90_14"] < overall["coverage90_14"]
    with pytest.raises(ValueError, match="exceeds"):
        protection_scores(fc, test, train, days=40)
