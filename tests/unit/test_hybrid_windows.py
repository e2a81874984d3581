"""The hybrid's stacked label windows (no leakage, the event budget) and EASE's SPD inverse."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src.features import columns as C
from src.recsys.hybrid import Hybrid
from src.recsys.models import EASE, Popularity, _spd_inverse
from tests.unit.test_recsys import checkerboard

SEEN: list[pd.Timestamp] = []


class RecordingPopularity(Popularity):
    """Popularity that writes down the newest event it was fitted on."""

    def _fit(self, interactions: pd.DataFrame) -> None:
        SEEN.append(interactions[C.TS].max())
        super()._fit(interactions)


def hybrid(**kw) -> Hybrid:
    return Hybrid(
        {"popularity": RecordingPopularity, "ease": lambda: EASE(lambda_=5.0)},
        n_candidates=6,
        num_boost_round=20,
        min_data_in_leaf=5,
        label_days=30,
        **kw,
    )


def test_each_window_fits_its_candidates_only_on_its_own_history():
    ev, _ = checkerboard()
    end = ev[C.TS].max()
    SEEN.clear()
    model = hybrid(label_windows=3).fit(ev)
    assert model.train_windows_ == 3
    # one fit per window (newest first), then the refit on everything for recommending
    assert len(SEEN) == 4
    for w, newest in enumerate(SEEN[:3]):
        assert newest <= end - pd.Timedelta(days=30 * (w + 1))
    assert SEEN[3] == end
    assert 0.0 < model.train_candidate_recall_ <= 1.0


def test_event_budget_drops_older_windows_but_never_the_first():
    ev, _ = checkerboard()
    SEEN.clear()
    # the refit and the first window's history already exceed the budget: one window
    model = hybrid(label_windows=3, max_fit_events=len(ev)).fit(ev)
    assert model.train_windows_ == 1 and len(SEEN) == 2
    roomy = hybrid(label_windows=3, max_fit_events=10 * len(ev)).fit(ev)
    assert roomy.train_windows_ == 3


def test_one_window_is_the_single_cut_off_fit():
    ev, missing = checkerboard()
    a = hybrid().fit(ev).recommend(list(missing), 3)
    b = hybrid(label_windows=1, max_fit_events=1).fit(ev).recommend(list(missing), 3)
    pd.testing.assert_frame_equal(a, b)


def test_bad_window_count_is_refused():
    with pytest.raises(ValueError, match="label_windows"):
        hybrid(label_windows=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_spd_inverse_matches_numpy(dtype):
    rng = np.random.default_rng(0)
    X = (rng.random((300, 120)) < 0.05).astype(dtype)
    G = X.T @ X
    G[np.diag_indices_from(G)] += 5.0
    P = _spd_inverse(G)
    assert P.dtype == dtype
    np.testing.assert_allclose(P, np.linalg.inv(G.astype(np.float64)), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(P, P.T)


def test_spd_inverse_falls_back_when_not_positive_definite():
    G = np.ones((4, 4), dtype=np.float32)  # rank one: lambda 0 on a single basket
    P = _spd_inverse(G)
    np.testing.assert_allclose(P, np.linalg.pinv(G.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_segment_popularity_equals_each_segments_own_popularity():
    rng = np.random.default_rng(1)
    n = 3000
    ev = pd.DataFrame(
        {
            C.CUSTOMER_ID: rng.integers(0, 200, n).astype(str),
            C.SKU: rng.integers(0, 60, n).astype(str),
            C.WEIGHT: 1.0,
            C.TS: pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, n), "D"),
        }
    )
    # three segments; one only has old events, so its 90-day window ends at its own last event
    segments = {str(c): ("a", "b", "c")[c % 3] for c in range(190)}  # 10 customers unsegmented
    old_only = ev[C.CUSTOMER_ID].map(segments) == "c"
    ev.loc[old_only, C.TS] = ev.loc[old_only, C.TS] - pd.Timedelta(days=200)
    model = Popularity().fit(ev, segments)
    seg = ev[C.CUSTOMER_ID].map(segments)
    assert set(model.segment_popularity_) == {"a", "b", "c"}
    for s, pop in model.segment_popularity_.items():
        np.testing.assert_array_equal(pop, model._popularity(ev[seg == s]))
