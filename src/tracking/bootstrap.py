"""Paired bootstrap of the difference between two runs over the same units (series, customers).

``paired_bootstrap(champion, challenger)`` takes one value per unit for each run (aligned on the
unit id), resamples units with replacement ``n_boot`` times and reports the mean difference
``challenger - champion``, its percentile confidence interval at ``1 - level`` and a one-sided
bootstrap p-value for "the challenger is better" (direction from ``higher_is_better``). A gain
is *significant* when the whole interval lies on the better side of zero — the same decision as
``p <= level / 2`` for the one-sided test at half the level, i.e. a two-sided test at ``level``.

Resampling is vectorised (``n_boot x n`` index matrix in chunks) and seeded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Comparison:
    n: int
    champion_mean: float
    challenger_mean: float
    delta: float  # challenger - champion
    ci_low: float
    ci_high: float
    p_value: float  # one-sided: share of resamples where the challenger is not better
    level: float
    higher_is_better: bool
    significant: bool

    @property
    def verdict(self) -> str:
        if not self.significant:
            return "no significant difference"
        better = (self.delta > 0) == self.higher_is_better
        return "challenger better" if better else "challenger worse"

    def as_dict(self) -> dict:
        return {**asdict(self), "verdict": self.verdict}


def align(champion: pd.Series, challenger: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Values of the units both runs scored, in the same order (NaNs dropped pairwise)."""
    both = pd.concat([champion.rename("a"), challenger.rename("b")], axis=1, join="inner").dropna()
    return both["a"].to_numpy(float), both["b"].to_numpy(float)


def paired_bootstrap(
    champion: pd.Series | np.ndarray,
    challenger: pd.Series | np.ndarray,
    higher_is_better: bool,
    level: float = 0.05,
    n_boot: int = 2000,
    seed: int = 0,
) -> Comparison:
    if isinstance(champion, pd.Series) and isinstance(challenger, pd.Series):
        a, b = align(champion, challenger)
    else:
        a, b = np.asarray(champion, float), np.asarray(challenger, float)
        if a.shape != b.shape:
            raise ValueError("paired samples need the same units in the same order")
    n = len(a)
    if n < 2:
        raise ValueError(f"need at least 2 paired units, got {n}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    d = b - a
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    chunk = max(1, 2_000_000 // n)
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(size, n))
        means[start : start + size] = d[idx].mean(axis=1)
    lo, hi = np.quantile(means, [level / 2, 1 - level / 2])
    better = means > 0 if higher_is_better else means < 0
    p = float(1.0 - better.mean())
    significant = bool(lo > 0 or hi < 0)
    return Comparison(
        n=n,
        champion_mean=float(a.mean()),
        challenger_mean=float(b.mean()),
        delta=float(d.mean()),
        ci_low=float(lo),
        ci_high=float(hi),
        p_value=p,
        level=level,
        higher_is_better=higher_is_better,
        significant=significant,
    )
