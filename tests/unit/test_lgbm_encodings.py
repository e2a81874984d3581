"""Target-mean encodings of the recursive LightGBM (issue 13, item 1): by hand on a tiny panel,
expanding (a row never averages its own target or a later one), and the model still fits and
forecasts with them on."""

from __future__ import annotations

import numpy as np
import pandas as pd

from src.features import columns as C
from src.forecast.generators import daily_panel
from src.forecast.lgbm import LightGBMForecaster


def encoder(category_codes) -> LightGBMForecaster:
    m = LightGBMForecaster(encodings=True, season_length=2)
    m.category_codes_ = np.asarray(category_codes, float)
    return m


def test_encodings_by_hand():
    # two series of one category, season of 2 periods; series 1 starts at period 1
    Y = np.array([[1.0, 3.0, 5.0, 7.0, 9.0], [np.nan, 2.0, 2.0, 4.0, 4.0]])
    m = encoder([0, 0])
    t = np.array([1, 2, 3, 4, 5])
    mean, season, profile = m._encodings(Y, t)
    # series 0: means of everything before t
    assert np.allclose(mean[0], [1, 2, 3, 4, 5])
    # same phase before t: t=2 -> {0}, t=3 -> {1}, t=4 -> {0,2}, t=5 -> {1,3}
    assert np.isnan(season[0, 0]) and np.allclose(season[0, 1:], [1, 3, 3, 5])
    # series 1 counts only from its start
    assert np.isnan(mean[1, 0]) and np.allclose(mean[1, 1:], [2, 2, 8 / 3, 3])
    assert np.allclose(season[1, 2:], [2, 2, 3])  # t=3 -> {1}, t=4 -> {2}, t=5 -> {1,3}
    # the category's profile: mean over its series of season / mean over its series of mean
    want = np.nanmean(season[:, 3]) / np.nanmean(mean[:, 3])
    assert np.allclose(profile[:, 3], want)


def test_a_row_never_reads_its_own_target_or_a_later_one():
    rng = np.random.default_rng(0)
    Y = rng.poisson(3.0, (6, 60)).astype(float)
    m = encoder([0, 0, 0, 1, 1, 1])
    t = np.arange(1, 60)
    before = m._encodings(Y, t)
    for cut in (10, 30, 59):
        Y2 = Y.copy()
        Y2[:, cut:] += 100.0
        after = m._encodings(Y2, t)
        for a, b in zip(before, after, strict=True):
            rows = t <= cut
            assert np.array_equal(np.nan_to_num(a[:, rows]), np.nan_to_num(b[:, rows]))


def test_the_model_fits_and_forecasts_with_encodings():
    panel, static = daily_panel(n_series=6, length=150, seed=1)
    panel = panel.drop(columns="true_rate")
    m = LightGBMForecaster(
        encodings=True, num_boost_round=40, min_data_in_leaf=10, holdout=14, num_threads=1
    )
    fc = m.fit(panel, static).predict(14)
    assert len(fc) == 6 * 14 and np.isfinite(fc["y_hat"]).all()
    imp = m.feature_importance()
    assert {"enc_series_mean", "enc_series_season", "enc_category_season"} <= set(imp.index)
    assert isinstance(fc[C.DS].iloc[0], pd.Timestamp)
