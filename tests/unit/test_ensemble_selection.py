"""Ensemble selection chosen on the data: greedy forward selection with replacement (Caruana et
al. 2004) on the last ``validation`` periods, hand-checkable cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src.features import columns as C
from src.forecast.base import Forecaster, load_forecaster
from src.forecast.baselines import SeasonalNaive
from src.forecast.ensemble import Ensemble
from src.forecast.metrics import Y_HAT
from src.forecast.task import choice_metrics, choice_tags


class Level(Forecaster):
    """Forecasts each series' mean of its history times ``factor`` (a biased or a fair model)."""

    name = "level"

    def __init__(self, factor: float = 1.0, quantiles=(0.1, 0.5, 0.9), freq: str = "D"):
        super().__init__(quantiles, freq)
        self.factor = factor
        self.fits = 0

    def _fit(self, panel, static_df) -> None:
        self.fits += 1
        self.level_ = np.nanmean(self.Y_, axis=1) * self.factor
        self.alpha_ = np.full(len(self.level_), 0.1)

    def _predict_mean(self, h, future_covariates=None) -> np.ndarray:
        return np.repeat(self.level_[:, None], h, axis=1)


def panel(weekly: bool, days: int = 140, n: int = 6) -> pd.DataFrame:
    """``n`` series: a strict weekly pattern (seasonal naive is exact) or 8, 12, 8, 12, … (mean
    10 over any even number of days)."""
    ds = pd.date_range("2024-01-01", periods=days, freq="D")
    rows = []
    for i in range(n):
        pattern = np.tile([2, 4, 6, 8, 20, 30, 10], days // 7 + 1)[:days] * (1 + i)
        y = pattern if weekly else np.tile([8, 12], days // 2)
        rows.append(pd.DataFrame({C.UNIQUE_ID: f"s{i}", C.DS: ds, C.Y: y.astype(float)}))
    return pd.concat(rows, ignore_index=True)


def members(*pairs):
    return {name: (lambda m=make: m()) for name, make in pairs}


def test_greedy_selection_keeps_only_the_member_that_is_exact():
    """Seasonal naive forecasts a strict weekly pattern exactly; every round adds it, the level
    models get weight 0 and are never refitted on the whole history."""
    q = (0.1, 0.5, 0.9)
    ens = Ensemble(members(("seasonal_naive", lambda: SeasonalNaive(7, quantiles=q)),
                           ("level", lambda: Level(1.0)), ("low", lambda: Level(0.5))),
                   selection="greedy", validation=14, rounds=5)  # fmt: skip
    ens.fit(panel(weekly=True))
    assert ens.selected_ == {"seasonal_naive": 1.0, "level": 0.0, "low": 0.0}
    assert ens.names == ["seasonal_naive"] and len(ens.members) == 1
    assert ens.validation_wrmsse_ == pytest.approx(0.0, abs=1e-9)
    fc = ens.predict(7)
    exact = SeasonalNaive(7, quantiles=q).fit(panel(weekly=True)).predict(7)
    np.testing.assert_allclose(fc[Y_HAT].to_numpy(), exact[Y_HAT].to_numpy())
    assert choice_metrics(ens)["ensemble/weight/seasonal_naive"] == 1.0
    assert choice_tags(ens) == {"ensemble_members": "seasonal_naive 1.00"}


def test_greedy_selection_mixes_two_opposite_biases(tmp_path):
    """One model forecasts 30 % high, the other 30 % low: their average is the true level, so the
    selection alternates and ends at equal weights (an even number of rounds), and beats both."""
    high, low = (lambda: Level(1.3)), (lambda: Level(0.7))
    ens = Ensemble(members(("high", high), ("low", low)), selection="greedy", validation=28,
                   rounds=6)  # fmt: skip
    ens.fit(panel(weekly=False))
    assert ens.selected_ == {"high": 0.5, "low": 0.5}
    path = [score for _, score in ens.selection_path_]
    assert path[1] < path[0]  # the pair beats the better single model
    assert all(m.fits == 1 for m in ens.members)  # held-out fits were on copies
    again = load_forecaster(ens.save(tmp_path / "ens"))
    pd.testing.assert_frame_equal(again.predict(5), ens.predict(5))


def test_selection_arguments_are_checked():
    two = members(("high", lambda: Level(1.3)), ("low", lambda: Level(0.7)))
    with pytest.raises(ValueError, match="selection 'best'"):
        Ensemble(two, selection="best")
    with pytest.raises(ValueError, match="weights or a selection"):
        Ensemble(two, weights=[1, 1], selection="greedy")
    with pytest.raises(ValueError, match="more than validation"):
        Ensemble(two, selection="greedy", validation=200).fit(panel(weekly=False))
