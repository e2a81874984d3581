"""The direct model of period sums (issue 13, item 3): it learns the distribution of the sum, not
of a day; its days are comonotone, so the policy's copula with rho = 1 gives that sum back; and a
training row reads nothing after its origin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from src.features import columns as C
from src.forecast.lgbm import PeriodSumLightGBMForecaster
from src.forecast.metrics import M5_QUANTILES, quantile_column
from src.forecast.paths import (
    COMONOTONE_MODELS,
    comonotone,
    daily_paths,
    forecast_arrays,
    period_demand,
)

PERIOD = 7


def poisson_panel(rates, days=400, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2022-01-01", periods=days, freq="D")
    rows = []
    for i, lam in enumerate(rates):
        rows.append(pd.DataFrame({C.UNIQUE_ID: f"s{i}", C.DS: dates, C.Y: rng.poisson(lam, days)}))
    return pd.concat(rows, ignore_index=True)


def model(**kw) -> PeriodSumLightGBMForecaster:
    base = dict(
        period=PERIOD,
        horizon=2 * PERIOD,
        lags=7,
        windows=(7, 28),
        scale_window=28,
        year_length=None,
        origins=40,
        origin_step=7,
        num_boost_round=80,
        quantile_boost_round=80,
        min_data_in_leaf=20,
        num_threads=1,
    )
    return PeriodSumLightGBMForecaster(**{**base, **kw})


@pytest.fixture(scope="module")
def fitted():
    rates = [2.0] * 12 + [0.5] * 12
    return model().fit(poisson_panel(rates)), rates


def test_the_quantiles_are_those_of_the_period_sum_not_of_a_day(fitted):
    m, rates = fitted
    fc = m.predict(2 * PERIOD)
    ids, _, mean, q, levels = forecast_arrays(fc)
    block = q[:, :PERIOD].sum(axis=1)  # (n, Q): the first block's sum at every level
    for i, uid in enumerate(ids):
        lam = rates[int(uid[1:])]
        truth = stats.poisson.ppf([0.025, 0.5, 0.975], PERIOD * lam)
        got = block[i, [list(levels).index(v) for v in (0.025, 0.5, 0.975)]]
        # a day's quantiles times 7 would be far wider (lam 2: 0 .. 35 against 7 .. 22)
        assert abs(got[1] - truth[1]) <= 0.25 * truth[1] + 1, (lam, got, truth)
        assert truth[0] - 0.35 * truth[1] - 1 <= got[0] <= truth[0] + 0.35 * truth[1] + 1
        assert truth[2] - 0.35 * truth[1] - 1 <= got[2] <= truth[2] + 0.35 * truth[1] + 1
    # the mean per rate (one series' recent level is noisy; the rates' averages are not)
    lam = np.array([rates[int(u[1:])] for u in ids])
    for rate in set(rates):
        got = mean[lam == rate, :PERIOD].sum(axis=1).mean()
        assert got == pytest.approx(PERIOD * rate, rel=0.15)
    # spread evenly: every day of a block is the same
    assert np.allclose(q[:, :PERIOD], q[:, :1]) and np.allclose(q[:, PERIOD:], q[:, PERIOD:][:, :1])


def test_comonotone_days_summed_with_rho_one_give_back_the_sum(fitted):
    m, _ = fitted
    assert PeriodSumLightGBMForecaster.comonotone
    fc = m.predict(PERIOD)
    assert comonotone(fc) and PeriodSumLightGBMForecaster.name in COMONOTONE_MODELS
    _, _, _, q, levels = forecast_arrays(fc)
    paths = daily_paths(q, levels, draws=4000, rho=1.0, seed=3)
    sums = period_demand(paths, PERIOD)
    block = q.sum(axis=1)
    for j, level in enumerate(levels):
        if 0.1 < level < 0.9:
            assert np.allclose(np.quantile(sums, level, axis=1), block[:, j], rtol=0.05, atol=0.5)
    assert set(quantile_column(v) for v in M5_QUANTILES) <= set(fc.columns)


def test_a_training_row_reads_nothing_after_its_origin():
    m = model(year_length=28)  # last "year"'s block and the days before it are read too
    panel = poisson_panel([1.0, 3.0], days=200, seed=1)
    m.fit(panel)
    R = m.Y_.copy()
    T = 150
    steps = m.block_steps()[0]
    X1, level1, _ = m._block_rows(R, m.covs_, T, steps)
    R2 = R.copy()
    R2[:, T:] = 1000.0  # the future changes; the row at origin T must not
    X2, level2, _ = m._block_rows(R2, m.covs_, T, steps)
    assert np.array_equal(np.nan_to_num(X1, nan=-1), np.nan_to_num(X2, nan=-1))
    assert np.array_equal(level1, level2)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="period"):
        PeriodSumLightGBMForecaster(period=0)
    m = model().fit(poisson_panel([1.0], days=200))
    with pytest.raises(ValueError, match="horizon"):
        m.predict(3 * PERIOD)
