"""Reconciled forecasts add up, stay non-negative, and are chosen on validation (issue 13)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src.features import columns as C
from src.forecast.base import load_forecaster
from src.forecast.baselines import ExponentialSmoothing
from src.forecast.generators import daily_panel
from src.forecast.hierarchy import BOTTOM, LEVEL_COL, METHODS, Hierarchical, Hierarchy
from src.forecast.lgbm import DirectLightGBMForecaster
from src.forecast.metrics import M5_QUANTILES, Y_HAT, quantile_column

H = 14
QCOLS = [quantile_column(q) for q in M5_QUANTILES]


@pytest.fixture(scope="module")
def data():
    panel, static = daily_panel(n_series=12, length=150, seed=3)
    static = static.assign(
        category=[f"c{i % 3}" for i in range(len(static))],
        location=[f"L{i % 2}" for i in range(len(static))],
    )
    cut = panel[C.DS].max() - pd.Timedelta(days=H)
    train = panel[panel[C.DS] <= cut].drop(columns="true_rate")
    test = panel[panel[C.DS] > cut].drop(columns=["true_rate", C.Y])
    return train, test, static


def sums_up(levels: pd.DataFrame, static: pd.DataFrame, cols: list[str], column: str) -> float:
    """Largest gap between each aggregate of ``cols`` and the sum of its bottom series."""
    bottom = levels[levels[LEVEL_COL] == BOTTOM].merge(static, on=C.UNIQUE_ID)
    name = "/".join(cols) if cols else "total"
    agg = levels[levels[LEVEL_COL] == name]
    if cols:
        key = (
            bottom[cols]
            .astype(str)
            .apply(lambda r: "/".join(f"{c}={v}" for c, v in zip(cols, r, strict=True)), axis=1)
        )
    else:
        key = pd.Series("total", index=bottom.index)
    summed = bottom.assign(**{C.UNIQUE_ID: key}).groupby([C.UNIQUE_ID, C.DS])[column].sum()
    got = agg.set_index([C.UNIQUE_ID, C.DS])[column]
    assert set(got.index) == set(summed.index)
    return float((got - summed.reindex(got.index)).abs().max())


LEVELS = [[], ["category"], ["location"], ["category", "location"]]


@pytest.mark.parametrize("method", METHODS)
def test_every_reconciler_adds_up_and_is_non_negative(data, method):
    train, test, static = data
    nested = method.startswith("top_down")
    levels = [[], ["category"]] if nested else LEVELS
    model = Hierarchical(
        base={"ets": lambda: ExponentialSmoothing()},
        levels=levels,
        methods=[method],
        validation=H,
    ).fit(train, static)
    assert model.method_ == method
    fc = model.predict_levels(H, test)
    for cols in levels:
        assert sums_up(fc, static, cols, Y_HAT) <= 1e-6
    values = fc[[Y_HAT, *QCOLS]].to_numpy()
    assert np.isfinite(values).all() and (values >= 0).all()
    assert (np.diff(fc[QCOLS].to_numpy(), axis=1) >= -1e-9).all()
    # the bottom frame is the standard forecast layout, one row per series and day
    bottom = model.predict(H, test)
    assert len(bottom) == 12 * H and LEVEL_COL not in bottom


def test_the_reconciler_and_quantiles_are_chosen_on_validation(data, tmp_path):
    train, test, static = data
    model = Hierarchical(
        base={"ets": lambda: ExponentialSmoothing()}, levels=LEVELS, validation=H
    ).fit(train, static)
    # scored on the last H days of the fit data, every method x interval style
    assert set(model.scores_) == {
        f"{m}/{iv}"
        for m in (
            "bottom_up",
            "min_trace_ols",
            "min_trace_wls_struct",
            "min_trace_wls_var",
            "min_trace_mint_shrink",
        )
        for iv in ("normality", "base")
    }
    # the best mean over levels among the methods not significantly worse at the bottom
    eligible = {k: v for k, v in model.scores_.items() if k.split("/")[0] not in model.rejected_}
    best = min(eligible, key=lambda k: eligible[k]["wrmsse"])
    assert model.method_ == best.split("/")[0] and "bottom_up" not in model.rejected_
    # the residual MinTraces were weighed, while choosing, by the errors of the window *before*
    # validation; the chosen model keeps the validation window's errors for what it forecasts
    last = train[C.DS].max()
    assert model.errors_[C.DS].min() == last - pd.Timedelta(days=H - 1)
    assert model.prior_errors_[C.DS].max() == last - pd.Timedelta(days=H)
    assert model.prior_errors_[C.DS].nunique() == H
    # saved and loaded (the base-model factory is not pickled), the same forecast
    fc = model.predict(H, test)
    model.save(tmp_path / "h")
    again = load_forecaster(tmp_path / "h").predict(H, test)
    pd.testing.assert_frame_equal(again, fc)


def test_a_reconciler_worse_at_the_bottom_is_not_chosen():
    """Planners buy per SKU: a method whose bottom series are significantly worse than the
    base model's own (bottom_up) on validation is rejected, one that is not stays eligible."""
    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(200)]
    ref = pd.Series(rng.gamma(2.0, 0.4, 200), index=ids)
    model = Hierarchical(base={"ets": lambda: ExponentialSmoothing()}, validation=H)
    rejected = model._bottom_guard(
        {
            "bottom_up": ref,
            "worse": ref + rng.normal(0.05, 0.02, 200),
            "same": ref + rng.normal(0.0, 0.02, 200),
            "better": ref - 0.05,
        }
    )
    assert set(rejected) == {"worse"} and "bottom RMSSE +0.05" in rejected["worse"]
    assert (
        Hierarchical(
            base={"ets": lambda: ExponentialSmoothing()}, bottom_significance=None
        )._bottom_guard({"bottom_up": ref, "worse": ref + 1.0})
        == {}
    )


def test_direct_lightgbm_as_the_base_and_a_bad_hierarchy(data):
    train, test, static = data
    base = lambda: DirectLightGBMForecaster(  # noqa: E731
        horizon=H,
        blocks=2,
        lags=7,
        windows=(7, 28),
        scale_window=28,
        origins=8,
        num_boost_round=30,
        min_data_in_leaf=5,
        num_threads=1,
    )
    model = Hierarchical(base={"lgbm": base}, levels=[[], ["category"]], validation=H)
    fc = model.fit(train, static).predict_levels(H, test)
    assert sums_up(fc, static, ["category"], Y_HAT) <= 1e-6
    assert sums_up(fc, static, [], Y_HAT) <= 1e-6
    with pytest.raises(ValueError, match="static columns"):
        Hierarchy(static, [["region"]])
    with pytest.raises(ValueError, match="lack a value"):
        Hierarchy(static.assign(category=None), [["category"]])


def test_hierarchy_sums_the_panel_and_keeps_missing_history_missing(data):
    train, _, static = data
    h = Hierarchy(static, LEVELS)
    assert h.S.shape == (1 + 3 + 2 + 6 + 12, 12) and not h.nested
    every = h.aggregate(train)
    total = every[every[C.UNIQUE_ID] == "total"].set_index(C.DS)[C.Y]
    assert np.allclose(total, train.groupby(C.DS)[C.Y].sum().reindex(total.index))
    assert Hierarchy(static, [[], ["category"], ["category", "location"]]).nested


def test_a_series_launched_inside_the_validation_window_is_forecast_as_zero(data):
    """The base model cannot forecast a series with no history before the cut: it counts as 0
    (this broke `make run` on the embedded data, where SKUs launch every week)."""
    train, test, static = data
    late = train[C.DS] <= train[C.DS].max() - pd.Timedelta(days=7)
    train = train[~((train[C.UNIQUE_ID] == "s0") & late)]  # s0 starts in the last 7 days
    model = Hierarchical(
        base={"ets": lambda: ExponentialSmoothing()}, levels=LEVELS, validation=H
    ).fit(train, static)
    fc = model.predict_levels(H, test)
    assert sums_up(fc, static, [], Y_HAT) <= 1e-6 and fc[C.UNIQUE_ID].eq("s0").any()
