"""Models fitted per group of series: the grouping decides where a model runs, not what a
per-series model forecasts; tiers put expensive candidates on the top classes only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src.compute import LocalBackend, use
from src.features import columns as C
from src.forecast.base import load_forecaster
from src.forecast.baselines import ExponentialSmoothing, SeasonalNaive
from src.forecast.partitioned import Partitioned, Tiered


def panel(n=24, days=120, seed=0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = [f"S{i:02d}" for i in range(n)]
    rate = rng.lognormal(0, 1, n)
    frame = pd.DataFrame(
        {
            C.UNIQUE_ID: np.repeat(ids, days),
            C.DS: np.tile(pd.date_range("2024-01-01", periods=days), n),
            C.Y: rng.poisson(np.repeat(rate, days)).astype(float),
            C.PRICE: np.repeat(rng.uniform(1, 10, n), days),
        }
    )
    static = pd.DataFrame({C.UNIQUE_ID: ids, C.CATEGORY: [f"c{i % 3}" for i in range(n)]})
    return frame, static


class Counting(SeasonalNaive):
    """Records the series each fit saw (class attribute: the groups run in this process)."""

    seen: list[set] = []

    def _fit(self, panel, static_df):
        Counting.seen.append(set(panel[C.UNIQUE_ID]))
        super()._fit(panel, static_df)


def test_pools_group_whole_series():
    p, s = panel()
    with use(LocalBackend(progress=False)):
        for pool, expect in (("all", 1), ("partition", 4), (C.CATEGORY, None)):
            Counting.seen = []
            Partitioned({"m": Counting}, pool=pool, partitions=4).fit(p, s)
            groups = Counting.seen
            assert set().union(*groups) == set(p[C.UNIQUE_ID])  # every series, once
            assert sum(map(len, groups)) == p[C.UNIQUE_ID].nunique()
            if expect:
                assert len(groups) == expect
            if pool == C.CATEGORY:  # whole categories per group
                cat = s.set_index(C.UNIQUE_ID)[C.CATEGORY]
                assert all(
                    not (set(cat[list(g)]) & set(cat[list(h)]))
                    for i, g in enumerate(groups)
                    for h in groups[i + 1 :]
                )


def test_per_series_models_forecast_the_same_whatever_the_grouping(tmp_path):
    p, s = panel()
    with use(LocalBackend(progress=False)):
        one = Partitioned({"m": SeasonalNaive}, pool="all").fit(p, s).predict(14)
        many = Partitioned({"m": SeasonalNaive}, pool="partition", partitions=5).fit(p, s)
        fc = many.predict(14)
        pd.testing.assert_frame_equal(
            one[[C.UNIQUE_ID, C.DS, "y_hat"]], fc[[C.UNIQUE_ID, C.DS, "y_hat"]]
        )
        loaded = load_forecaster(many.save(tmp_path / "m"))
        pd.testing.assert_frame_equal(loaded.predict(14), fc)


def test_tiered_runs_expensive_models_on_the_top_classes_only():
    p, s = panel(n=30, days=150)

    class Expensive(ExponentialSmoothing):
        seen: set = set()

        def _fit(self, panel, static_df):
            Expensive.seen |= set(panel[C.UNIQUE_ID])
            super()._fit(panel, static_df)

    with use(LocalBackend(progress=False)):
        model = Tiered(
            expensive={"exp": lambda: Partitioned({"e": Expensive}, pool="all")},
            cheap={"naive": lambda: Partitioned({"n": SeasonalNaive}, pool="partition")},
            top=("A",),
            abc={"A": 0.5, "B": 0.8},
            validation=14,
        ).fit(p, s)
        fc = model.predict(14)
    classes = model.classes_
    assert Expensive.seen and Expensive.seen <= set(classes.index[classes == "A"])
    assert set(model.choice_) == set(classes.unique())
    assert all(model.choice_[c] == "naive" for c in model.choice_ if c != "A")
    assert set(fc[C.UNIQUE_ID]) == set(p[C.UNIQUE_ID]) and len(fc) == 30 * 14


def test_brand_wide_classes_from_the_statics_win():
    p, s = panel(n=12)
    s["abc_class"] = "C"
    with use(LocalBackend(progress=False)):
        model = Tiered(
            expensive={"exp": lambda: Partitioned({"e": ExponentialSmoothing})},
            cheap={"naive": lambda: Partitioned({"n": SeasonalNaive})},
            validation=14,
        ).fit(p, s)
    assert set(model.classes_) == {"C"} and model.choice_ == {"C": "naive"}


def test_partitioned_needs_the_pool_column():
    p, s = panel()
    with pytest.raises(ValueError, match="needs the static column 'brand'"):
        Partitioned({"m": SeasonalNaive}, pool="brand").fit(p, s)
