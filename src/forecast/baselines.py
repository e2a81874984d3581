"""Classical baselines, vectorised across series (one loop over time, none over series).

* :class:`SeasonalNaive` — repeat the last season;
* :class:`ExponentialSmoothing` — simple exponential smoothing per series with the smoothing
  weight chosen by one-step error from a grid, optionally on weekday-adjusted data (a
  multiplicative day-of-week profile from recent weeks);
* :class:`Croston` — intermittent demand: ``variant="classic"``, ``"sba"`` (Syntetos–Boylan
  bias correction) or ``"tsb"`` (Teunter–Syntetos–Babai, probability smoothed every period).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from src.forecast.base import Forecaster
from src.forecast.metrics import M5_QUANTILES


def _fill_start(Y: np.ndarray) -> np.ndarray:
    """Series start at different dates; before its start a series counts as 0."""
    return np.nan_to_num(Y, nan=0.0)


class SeasonalNaive(Forecaster):
    name = "seasonal_naive"

    def __init__(
        self, season_length: int = 7, quantiles: Sequence[float] = M5_QUANTILES, freq: str = "D"
    ):
        super().__init__(quantiles, freq)
        self.season_length = season_length

    def _fit(self, panel: pd.DataFrame, static_df: pd.DataFrame | None) -> None:
        Y = _fill_start(self.Y_)
        m = self.season_length
        fitted = np.full_like(Y, np.nan)
        fitted[:, m:] = Y[:, :-m]
        self.set_dispersion(np.where(np.isnan(self.Y_), np.nan, Y), fitted)
        self.last_season_ = Y[:, -m:]

    def _predict_mean(self, h: int, future_covariates=None) -> np.ndarray:
        reps = int(np.ceil(h / self.season_length))
        return np.tile(self.last_season_, reps)[:, :h]


def _weekday_profile(Y: np.ndarray, season: int, weeks: int) -> np.ndarray:
    """Multiplicative season profile (n, season) from the last ``weeks`` seasons; rows sum to season."""
    span = min(Y.shape[1] // season, weeks) * season
    if span < season:
        return np.ones((Y.shape[0], season))
    recent = Y[:, -span:]
    by_pos = recent.reshape(Y.shape[0], -1, season).sum(axis=1)
    total = by_pos.sum(axis=1, keepdims=True)
    prof = np.where(total > 0, by_pos / np.where(total > 0, total, 1) * season, 1.0)
    # shrink towards flat: sparse series have noisy profiles
    weight = np.clip(total / (total + 20.0), 0, 1)
    prof = weight * prof + (1 - weight) * 1.0
    return np.clip(prof, 0.05, None)


class ExponentialSmoothing(Forecaster):
    name = "exp_smoothing"

    def __init__(
        self,
        alphas: Sequence[float] = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5),
        season_length: int | None = 7,
        profile_weeks: int = 12,
        quantiles: Sequence[float] = M5_QUANTILES,
        freq: str = "D",
    ):
        super().__init__(quantiles, freq)
        self.alphas = tuple(alphas)
        self.season_length = season_length
        self.profile_weeks = profile_weeks

    def _fit(self, panel: pd.DataFrame, static_df: pd.DataFrame | None) -> None:
        Y = _fill_start(self.Y_)
        n, T = Y.shape
        m = self.season_length
        if m:
            self.profile_ = _weekday_profile(Y, m, self.profile_weeks)
            pos = (np.arange(T) - T) % m  # position of each column in the season
            S = self.profile_[:, pos]
            Z = Y / S
        else:
            S, Z = np.ones_like(Y), Y
        started = ~np.isnan(self.Y_)
        best_err = np.full(n, np.inf)
        best_level = np.zeros(n)
        best_fit = np.zeros_like(Y)
        for a in self.alphas:
            level = np.zeros(n)
            init = np.zeros(n, dtype=bool)
            fit = np.full_like(Y, np.nan)
            for t in range(T):
                fit[:, t] = np.where(init, level, np.nan)
                s = started[:, t]
                first = s & ~init
                level = np.where(first, Z[:, t], np.where(s, level + a * (Z[:, t] - level), level))
                init |= s
            sq = (Z - fit) ** 2
            n_ok = np.isfinite(sq).sum(axis=1)
            err = np.where(n_ok > 0, np.nansum(sq, axis=1) / np.maximum(n_ok, 1), np.inf)
            better = err < best_err
            best_err = np.where(better, err, best_err)
            best_level = np.where(better, level, best_level)
            best_fit[better] = fit[better]
        self.level_ = best_level
        self.set_dispersion(np.where(started, Y, np.nan), best_fit * S)

    def _predict_mean(self, h: int, future_covariates=None) -> np.ndarray:
        mean = np.repeat(self.level_[:, None], h, axis=1)
        if self.season_length:
            m = self.season_length
            mean = mean * self.profile_[:, np.arange(h) % m]
        return mean


class Croston(Forecaster):
    name = "croston"

    def __init__(
        self,
        variant: str = "sba",
        alpha: float = 0.1,
        beta: float = 0.1,
        quantiles: Sequence[float] = M5_QUANTILES,
        freq: str = "D",
    ):
        if variant not in ("classic", "sba", "tsb"):
            raise ValueError("Croston variant must be 'classic', 'sba' or 'tsb'")
        super().__init__(quantiles, freq)
        self.variant = variant
        self.alpha = alpha
        self.beta = beta
        self.name = "tsb" if variant == "tsb" else f"croston_{variant}"

    def _fit(self, panel: pd.DataFrame, static_df: pd.DataFrame | None) -> None:
        Y = _fill_start(self.Y_)
        n, T = Y.shape
        started = ~np.isnan(self.Y_)
        a, b = self.alpha, self.beta
        size = np.zeros(n)  # demand size when demand occurs
        interval = np.ones(n)  # periods between demands (classic / sba)
        prob = np.zeros(n)  # probability of demand (tsb)
        since = np.ones(n)
        init = np.zeros(n, dtype=bool)
        fit = np.full_like(Y, np.nan)
        for t in range(T):
            fit[:, t] = np.where(init, self._rate(size, interval, prob), np.nan)
            y, s = Y[:, t], started[:, t]
            demand = s & (y > 0)
            first = demand & ~init
            if self.variant == "tsb":
                prob = np.where(first, 1.0, np.where(s & init, prob + b * (demand - prob), prob))
                size = np.where(first, y, np.where(demand & init, size + a * (y - size), size))
            else:
                size = np.where(first, y, np.where(demand & init, size + a * (y - size), size))
                interval = np.where(
                    first,
                    since,
                    np.where(demand & init, interval + a * (since - interval), interval),
                )
                since = np.where(demand, 1.0, np.where(s, since + 1.0, since))
            init |= first
        self.size_, self.interval_, self.prob_ = size, interval, prob
        self.set_dispersion(np.where(started, Y, np.nan), fit)

    def _rate(self, size, interval, prob):
        if self.variant == "tsb":
            return prob * size
        rate = size / np.maximum(interval, 1e-9)
        return rate * (1 - self.alpha / 2) if self.variant == "sba" else rate

    def _predict_mean(self, h: int, future_covariates=None) -> np.ndarray:
        rate = self._rate(self.size_, self.interval_, self.prob_)
        return np.repeat(rate[:, None], h, axis=1)


class EmpiricalQuantiles(Forecaster):
    """Each series' own recent distribution, repeated over the horizon: the quantiles of its last
    ``window`` observed periods (days before a series' first sale do not count), the mean of
    the same periods as the point forecast. No model of dispersion at all — which is what makes
    it an honest yardstick for the calibrated quantiles of the other forecasters (issue 13)."""

    name = "empirical_quantiles"

    def __init__(
        self, window: int = 56, quantiles: Sequence[float] = M5_QUANTILES, freq: str = "D"
    ):
        super().__init__(quantiles, freq)
        if window < 1:
            raise ValueError(f"empirical_quantiles: window must be >= 1, got {window}")
        self.window = int(window)

    def _fit(self, panel: pd.DataFrame, static_df: pd.DataFrame | None) -> None:
        recent = self.Y_[:, -self.window :]
        seen = ~np.isnan(recent).all(axis=1)
        self.level_ = np.zeros(len(recent))
        self.q_ = np.zeros((len(recent), len(self.quantiles)))
        if seen.any():
            self.level_[seen] = np.nanmean(recent[seen], axis=1)
            self.q_[seen] = np.nanquantile(recent[seen], self.quantiles, axis=1).T

    def _predict_mean(self, h: int, future_covariates=None) -> np.ndarray:
        return np.repeat(self.level_[:, None], h, axis=1)

    def predict(self, h: int, future_covariates: pd.DataFrame | None = None) -> pd.DataFrame:
        if self.ids_ is None:
            raise RuntimeError(f"{self.name}: call fit() before predict()")
        mean = np.clip(self._predict_mean(h), 0, None)
        q = np.clip(np.repeat(self.q_[:, None, :], h, axis=1), 0, None)
        return self.to_frame(mean, np.maximum.accumulate(q, axis=2))
