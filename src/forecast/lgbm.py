"""A global LightGBM forecaster: one model over all series, predicting recursively.

Features for period t (all built on wide series x time matrices, so a step is vectorised over
series): lags of y, rolling means over recent windows, share of zero periods and periods since
the last sale (intermittency), the panel's covariates at t (price, price ratio, promotion,
calendar, holidays, events, SNAP … whatever the panel has), and the series' category (static).

The objective is count-friendly (Tweedie by default; ``poisson`` also works). Uncertainty: the
model is first fitted without the last ``holdout`` periods and run recursively over them, the
errors of that multi-step forecast set each series' negative-binomial dispersion, then the model
is refitted on everything. Quantiles are therefore calibrated on the model's own h-step errors,
not on in-sample fit.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd

from src.features import columns as C
from src.forecast.base import Forecaster, dispersion, to_wide
from src.forecast.metrics import M5_QUANTILES

# covariates taken from the panel when present; all are known in advance
COVARIATES = (
    "price",
    "price_ratio",
    "promo",
    "dow",
    "week",
    "month",
    "day",
    "holiday",
    "snap",
    "event",
)


class LightGBMForecaster(Forecaster):
    name = "lightgbm"
    uses_future_covariates = True
    uses_static = True

    def __init__(
        self,
        lags: Sequence[int] = (1, 2, 3, 4, 5, 6, 7, 14, 21, 28),
        windows: Sequence[int] = (7, 28, 91),
        train_window: int | None = 365,
        holdout: int = 28,
        objective: str = "tweedie",
        tweedie_variance_power: float = 1.2,
        num_boost_round: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 63,
        min_data_in_leaf: int = 50,
        feature_fraction: float = 0.8,
        bagging_fraction: float = 0.8,
        lambda_l2: float = 1.0,
        num_threads: int = 0,
        seed: int = 0,
        quantiles: Sequence[float] = M5_QUANTILES,
        freq: str = "D",
    ):
        super().__init__(quantiles, freq)
        self.lags = tuple(sorted(lags))
        self.windows = tuple(sorted(windows))
        self.train_window = train_window
        self.holdout = holdout
        self.params = {
            "objective": objective,
            "learning_rate": learning_rate,
            "num_leaves": num_leaves,
            "min_data_in_leaf": min_data_in_leaf,
            "feature_fraction": feature_fraction,
            "bagging_fraction": bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": lambda_l2,
            "num_threads": num_threads,
            "seed": seed,
            "verbosity": -1,
            # same data and parameters -> the same model whatever the thread count (a Dask
            # worker and this process must agree: backend=local and backend=dask are identical)
            "deterministic": True,
            "force_col_wise": True,
        }
        if objective == "tweedie":
            self.params["tweedie_variance_power"] = tweedie_variance_power
        self.num_boost_round = num_boost_round

    # --- features ---------------------------------------------------------------------------
    def _covariate_matrices(self, panel: pd.DataFrame) -> dict[str, np.ndarray]:
        covs = {}
        for c in COVARIATES:
            if c in panel:
                _, _, M = to_wide(panel, c)
                covs[c] = M
        return covs

    def _features(
        self, Y: np.ndarray, covs: dict[str, np.ndarray], t_cols: np.ndarray
    ) -> np.ndarray:
        """Feature rows for every (series, t) in ``t_cols`` (columns of Y); shape (n*len, F)."""
        n = Y.shape[0]
        Yz = np.nan_to_num(Y, nan=0.0)
        csum = np.concatenate([np.zeros((n, 1)), np.cumsum(Yz, axis=1)], axis=1)
        nz = np.concatenate([np.zeros((n, 1)), np.cumsum(Yz > 0, axis=1)], axis=1)
        feats = []
        for lag in self.lags:
            idx = t_cols - lag
            feats.append(np.where(idx >= 0, Y[:, np.clip(idx, 0, None)], np.nan))
        for w in self.windows:
            lo = np.clip(t_cols - w, 0, None)
            span = np.maximum(t_cols - lo, 1)
            feats.append((csum[:, t_cols] - csum[:, lo]) / span)
        w = self.windows[-1]
        lo = np.clip(t_cols - w, 0, None)
        feats.append(1 - (nz[:, t_cols] - nz[:, lo]) / np.maximum(t_cols - lo, 1))  # zero share
        # periods since the last sale before t
        last_sale = np.where(Yz > 0, np.arange(Y.shape[1])[None, :], -1)
        last_sale = np.maximum.accumulate(last_sale, axis=1)
        prev = np.where(t_cols - 1 >= 0, last_sale[:, np.clip(t_cols - 1, 0, None)], -1)
        feats.append(np.where(prev >= 0, t_cols - prev, 999.0))
        for c in self.cov_names_:
            feats.append(covs[c][:, t_cols])
        feats.append(np.repeat(self.category_codes_[:, None], len(t_cols), axis=1))
        return np.stack([f.astype(np.float32) for f in feats], axis=-1).reshape(n * len(t_cols), -1)

    def feature_names(self) -> list[str]:
        return (
            [f"lag_{lag}" for lag in self.lags]
            + [f"mean_{w}" for w in self.windows]
            + [f"zero_share_{self.windows[-1]}", "since_last_sale"]
            + list(self.cov_names_)
            + ["category"]
        )

    # --- fit / predict ----------------------------------------------------------------------
    def _train(self, Y: np.ndarray, covs: dict[str, np.ndarray]) -> lgb.Booster:
        T = Y.shape[1]
        start = max(self.lags[-1], 1)
        if self.train_window:
            start = max(start, T - self.train_window)
        t_cols = np.arange(start, T)
        X = self._features(Y, covs, t_cols)
        y = Y[:, t_cols].reshape(-1)
        keep = np.isfinite(y)  # rows before a series starts are not training data
        data = lgb.Dataset(
            X[keep],
            y[keep],
            feature_name=self.feature_names(),
            categorical_feature=["category"],
            free_raw_data=True,
        )
        return lgb.train(self.params, data, num_boost_round=self.num_boost_round)

    def _recursive(self, booster, Y: np.ndarray, covs: dict[str, np.ndarray], h: int) -> np.ndarray:
        n, T = Y.shape
        Yx = np.concatenate([Y, np.full((n, h), np.nan)], axis=1)
        Yx[:, :T] = np.where(np.isnan(Y) & (np.arange(T) >= self.first_col_[:, None]), 0.0, Y)
        for step in range(h):
            t = np.array([T + step])
            pred = booster.predict(
                self._features(Yx, covs, t), num_threads=self.params["num_threads"]
            )
            Yx[:, T + step] = np.clip(pred, 0, None)
        return Yx[:, T:]

    def _fit(self, panel: pd.DataFrame, static_df: pd.DataFrame | None) -> None:
        covs = self._covariate_matrices(panel)
        self.cov_names_ = tuple(covs)
        started = ~np.isnan(self.Y_)
        self.first_col_ = np.where(started.any(axis=1), started.argmax(axis=1), 0)
        if static_df is not None and C.CATEGORY in static_df:
            cat = static_df.set_index(C.UNIQUE_ID)[C.CATEGORY].reindex(self.ids_)
            codes, _ = pd.factorize(cat)
            self.category_codes_ = codes.astype(float)
        else:
            self.category_codes_ = np.zeros(len(self.ids_))
        Y = self.Y_
        T = Y.shape[1]
        if self.holdout and self.holdout + self.lags[-1] + 28 < T:
            cut = T - self.holdout
            head_covs = {c: m[:, :cut] for c, m in covs.items()}
            booster = self._train(Y[:, :cut], head_covs)
            pred = self._recursive(booster, Y[:, :cut], covs, self.holdout)
            self.alpha_ = dispersion(Y[:, cut:], pred, min_points=self.holdout)
        self.booster_ = self._train(Y, covs)
        self.covs_ = covs
        if self.alpha_ is None:
            fitted = np.full_like(Y, np.nan)
            self.alpha_ = dispersion(Y, fitted)

    def _predict_mean(self, h: int, future_covariates: pd.DataFrame | None) -> np.ndarray:
        covs = {}
        future = self.future_dates(h)
        fut = _future_matrices(future_covariates, self.ids_, future, self.cov_names_)
        for c in self.cov_names_:
            hist = self.covs_[c]
            ahead = fut.get(c)
            if ahead is None:  # not supplied: carry the last known value forward
                last = pd.DataFrame(hist).ffill(axis=1).to_numpy()[:, -1:]
                ahead = np.repeat(last, h, axis=1)
            covs[c] = np.concatenate([hist, ahead], axis=1)
        return self._recursive(self.booster_, self.Y_, covs, h)

    def feature_importance(self) -> pd.Series:
        gain = self.booster_.feature_importance("gain")
        return pd.Series(gain, index=self.feature_names()).sort_values(ascending=False)


def _future_matrices(
    future: pd.DataFrame | None, ids: np.ndarray, dates: pd.DatetimeIndex, names: Sequence[str]
) -> dict[str, np.ndarray]:
    if future is None or future.empty:
        return {}
    out = {}
    f = future[future[C.DS].isin(dates)]
    for c in names:
        if c in f:
            wide = f.pivot(index=C.UNIQUE_ID, columns=C.DS, values=c).reindex(
                index=ids, columns=dates
            )
            M = wide.to_numpy(dtype=float)
            if np.isnan(M).any():  # partly missing: fill forward within the horizon
                M = pd.DataFrame(M).ffill(axis=1).bfill(axis=1).to_numpy()
            out[c] = M
    return out
