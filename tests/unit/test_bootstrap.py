"""Paired bootstrap on synthetic results where the right answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src.tracking.bootstrap import paired_bootstrap


def synthetic(n: int, gain: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-series errors: a shared difficulty per unit plus noise; the challenger shifted by
    ``gain`` (lower error is better)."""
    rng = np.random.default_rng(seed)
    difficulty = rng.gamma(2.0, 0.5, n)
    champion = difficulty + rng.normal(0, 0.2, n)
    challenger = difficulty - gain + rng.normal(0, 0.2, n)
    return champion, challenger


def test_a_planted_gain_is_detected():
    hits = [
        paired_bootstrap(
            *synthetic(300, 0.06, s), higher_is_better=False, n_boot=500, seed=s
        ).significant
        for s in range(40)
    ]
    assert np.mean(hits) >= 0.9  # power at this effect size is ~0.99


def test_a_planted_zero_gain_is_not_detected_beyond_the_level():
    level = 0.05
    hits = [
        paired_bootstrap(
            *synthetic(300, 0.0, s), higher_is_better=False, level=level, n_boot=500, seed=s
        ).significant
        for s in range(200)
    ]
    assert np.mean(hits) <= 2 * level  # false positives stay near the configured level


def test_direction_verdict_and_pairing():
    a, b = synthetic(400, 0.1, 1)
    better = paired_bootstrap(a, b, higher_is_better=False)
    assert better.significant and better.verdict == "challenger better" and better.delta < 0
    worse = paired_bootstrap(b, a, higher_is_better=False)
    assert worse.significant and worse.verdict == "challenger worse"
    # the same gain read as "higher is better" is a loss
    assert paired_bootstrap(a, b, higher_is_better=True).verdict == "challenger worse"
    # pairing on ids: shuffled series are re-aligned
    ids = [f"s{i}" for i in range(400)]
    sa = pd.Series(a, index=ids)
    sb = pd.Series(b, index=ids).sample(frac=1.0, random_state=0)
    assert paired_bootstrap(sa, sb, higher_is_better=False).delta == pytest.approx(better.delta)


def test_bad_inputs():
    with pytest.raises(ValueError, match="same units"):
        paired_bootstrap(np.ones(3), np.ones(4), higher_is_better=True)
    with pytest.raises(ValueError, match="at least 2"):
        paired_bootstrap(np.ones(1), np.ones(1), higher_is_better=True)
