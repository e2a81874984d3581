"""One contract every forecaster passes on tiny data (the darts style)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src.features import columns as C
from src.forecast.base import MODEL_COL, load_forecaster
from src.forecast.baselines import Croston, EmpiricalQuantiles, ExponentialSmoothing, SeasonalNaive
from src.forecast.ensemble import Ensemble
from src.forecast.generators import daily_panel
from src.forecast.lgbm import (
    DirectLightGBMForecaster,
    LightGBMForecaster,
    PeriodSumLightGBMForecaster,
)
from src.forecast.metrics import M5_QUANTILES, Y_HAT, quantile_column
from src.forecast.neural import DartsForecaster

H = 14
TINY_NN = dict(
    input_chunk_length=14,
    output_chunk_length=H,
    hidden_size=8,
    epochs=10,
    batch_size=32,
    learning_rate=1e-2,
    max_samples_per_ts=20,
    num_samples=50,
    train_window=None,
)

MODELS = {
    "seasonal_naive": lambda: SeasonalNaive(),
    "empirical_quantiles": lambda: EmpiricalQuantiles(window=28),
    "exp_smoothing": lambda: ExponentialSmoothing(),
    "croston_sba": lambda: Croston("sba"),
    "tsb": lambda: Croston("tsb"),
    "lightgbm": lambda: LightGBMForecaster(
        num_boost_round=60, min_data_in_leaf=10, holdout=H, num_threads=1
    ),
    "lightgbm_direct": lambda: DirectLightGBMForecaster(
        horizon=H,
        blocks=2,
        lags=7,
        windows=(7, 28),
        scale_window=28,
        origins=10,
        origin_step=3,
        num_boost_round=60,
        min_data_in_leaf=10,
        num_threads=1,
    ),
    "lightgbm_direct_tweedie": lambda: DirectLightGBMForecaster(
        horizon=H,
        blocks=1,
        lags=7,
        windows=(7, 28),
        scale_window=28,
        origins=10,
        origin_step=3,
        num_boost_round=60,
        min_data_in_leaf=10,
        num_threads=1,
        objective="tweedie",
    ),
    "lightgbm_sum": lambda: PeriodSumLightGBMForecaster(
        period=7,
        horizon=H,
        lags=7,
        windows=(7, 28),
        scale_window=28,
        year_length=None,
        origins=15,
        origin_step=3,
        num_boost_round=60,
        quantile_boost_round=40,
        min_data_in_leaf=10,
        num_threads=1,
    ),
    "lstm": lambda: DartsForecaster(kind="lstm", **TINY_NN),
    "tft": lambda: DartsForecaster(kind="tft", **TINY_NN),
    "tft_early_stopped": lambda: DartsForecaster(
        kind="tft",
        **{**TINY_NN, "epochs": 30},
        validation=H,
        early_stopping_patience=2,
        weight_by_revenue=True,
    ),
    "ensemble": lambda: Ensemble([SeasonalNaive(), Croston("sba")], weights=[1, 3]),
}


@pytest.fixture(scope="module")
def data():
    panel, static = daily_panel(n_series=6, length=150, seed=1)
    cut = panel[C.DS].max() - pd.Timedelta(days=H)
    train = panel[panel[C.DS] <= cut].drop(columns="true_rate")
    test = panel[panel[C.DS] > cut]
    return train, test, static


NEURAL = {"lstm", "tft", "tft_early_stopped"}  # neural training: the slow tier


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in NEURAL else n for n in MODELS]
)
def test_forecaster_contract(name, data, tmp_path):
    train, test, static = data
    model = MODELS[name]()
    future = test.drop(columns=[C.Y, "true_rate"])
    fc = model.fit(train, static).predict(H, future)
    qcols = [quantile_column(q) for q in M5_QUANTILES]
    assert list(fc.columns[:4]) == [C.UNIQUE_ID, C.DS, MODEL_COL, Y_HAT] and set(qcols) <= set(
        fc.columns
    )
    assert len(fc) == 6 * H and fc[C.UNIQUE_ID].nunique() == 6
    assert fc[C.DS].min() == test[C.DS].min() and fc[C.DS].max() == test[C.DS].max()
    values = fc[[Y_HAT, *qcols]].to_numpy()
    assert np.isfinite(values).all() and (values >= 0).all()
    assert (np.diff(fc[qcols].to_numpy(), axis=1) >= -1e-9).all()  # quantiles never cross
    # loose accuracy: per-series mean forecast within a factor of the true mean rate
    merged = fc.merge(test, on=[C.UNIQUE_ID, C.DS])
    by = merged.groupby(C.UNIQUE_ID)[[Y_HAT, "true_rate"]].mean()
    fast = by[by["true_rate"] > 2]
    assert (
        (fast[Y_HAT] > 0.4 * fast["true_rate"]) & (fast[Y_HAT] < 2.5 * fast["true_rate"])
    ).all(), by
    # save / load round trip gives the same forecast (sampling models: same distribution centre)
    model.save(tmp_path / name)
    again = load_forecaster(tmp_path / name).predict(H, future)
    if name == "tft_early_stopped":  # stopped by the held-out tail, before the ceiling
        assert 1 <= model.epochs_trained_ < 30
    if name == "lstm":
        assert np.allclose(again[Y_HAT].mean(), fc[Y_HAT].mean(), rtol=0.2)
    else:
        pd.testing.assert_frame_equal(
            again.reset_index(drop=True), fc.reset_index(drop=True), atol=1e-4
        )


def test_predict_before_fit_is_an_error():
    with pytest.raises(RuntimeError, match="fit"):
        SeasonalNaive().predict(3)


def test_panel_contract_is_checked():
    with pytest.raises(ValueError, match="unique_id, ds, y"):
        SeasonalNaive().fit(pd.DataFrame({"id": [1], "ds": [1]}))


def test_models_are_handed_only_what_their_capability_flags_ask_for(data):
    from src.forecast.backtest import BacktestSpec, backtest

    train, _, static = data
    got = {}

    class Probe(SeasonalNaive):
        def _fit(self, panel, static_df):
            got["static"] = static_df
            super()._fit(panel, static_df)

        def predict(self, h, future_covariates=None):
            got["future"] = future_covariates
            return super().predict(h, future_covariates)

    class Uses(Probe):
        uses_static = True
        uses_future_covariates = True

    spec = BacktestSpec(horizon=7, windows=1, step=7, known_covariates=("dow", "price"))
    backtest(Probe, train, static, spec)
    assert got == {"static": None, "future": None}
    backtest(Uses, train, static, spec)
    assert got["static"] is static
    assert list(got["future"].columns) == [C.UNIQUE_ID, C.DS, "dow", "price"]


def test_empirical_quantiles_are_each_series_own_recent_quantiles():
    """The issue-13 yardstick: quantiles (and mean) of the last ``window`` observed days."""
    ds = pd.date_range("2024-01-01", periods=10, freq="D")
    panel = pd.DataFrame(
        {
            "unique_id": ["a"] * 10 + ["b"] * 3,
            "ds": list(ds) + list(ds[-3:]),  # b starts 3 days before the end
            "y": [0, 0, 0, 0, 0, 1, 2, 3, 4, 5] + [9.0, 9.0, 9.0],
        }
    )
    fc = EmpiricalQuantiles(window=5, quantiles=(0.1, 0.5, 0.9)).fit(panel).predict(4)
    a = fc[fc["unique_id"] == "a"]
    assert np.allclose(a["y_hat"], 3.0) and np.allclose(a["q0.5"], 3.0)
    assert np.allclose(a["q0.1"], np.quantile([1, 2, 3, 4, 5], 0.1))
    b = fc[fc["unique_id"] == "b"]  # days before its first sale do not count as zeros
    assert np.allclose(b[["y_hat", "q0.1", "q0.9"]].to_numpy(), 9.0)
    assert len(fc) == 8


def test_direct_lightgbm_has_one_model_per_block_and_models_demand_per_day():
    """Direct: one booster per horizon block, no forecast fed back; monthly demand is modelled
    per day, so a flat daily rate gives forecasts in proportion to the days in each month."""
    dates = pd.date_range("2018-01-01", periods=40, freq="MS")
    rows = [(f"s{i}", d, float(10 * (i + 1) * d.days_in_month)) for i in range(4) for d in dates]
    panel = pd.DataFrame(rows, columns=[C.UNIQUE_ID, C.DS, C.Y])
    model = DirectLightGBMForecaster(
        horizon=3,
        blocks=3,
        lags=6,
        windows=(3, 12),
        scale_window=6,
        season_length=12,
        origins=20,
        origin_step=1,
        num_boost_round=40,
        min_data_in_leaf=2,
        num_threads=1,
        dispersion_holdout=False,
        freq="MS",
    ).fit(panel)
    assert len(model.boosters_) == 3
    fc = model.predict(3)  # May (31), June (30), July (31) 2021
    per_day = fc[Y_HAT].to_numpy() / np.tile([31, 30, 31], 4)
    assert np.allclose(per_day, np.repeat([10, 20, 30, 40], 3), rtol=0.02)
    with pytest.raises(ValueError, match="horizon 3"):
        model.predict(4)
