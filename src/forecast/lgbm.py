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
        encodings: bool = False,
        season_length: int = 7,
        quantiles: Sequence[float] = M5_QUANTILES,
        freq: str = "D",
    ):
        super().__init__(quantiles, freq)
        self.lags = tuple(sorted(lags))
        self.windows = tuple(sorted(windows))
        self.train_window = train_window
        self.holdout = holdout
        self.encodings = bool(encodings)
        self.season_length = max(int(season_length), 1)
        self.params = booster_params(
            objective,
            tweedie_variance_power,
            learning_rate=learning_rate,
            num_leaves=num_leaves,
            min_data_in_leaf=min_data_in_leaf,
            feature_fraction=feature_fraction,
            bagging_fraction=bagging_fraction,
            lambda_l2=lambda_l2,
            num_threads=num_threads,
            seed=seed,
        )
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
        if getattr(self, "encodings", False):  # models saved before encodings existed: off
            feats += self._encodings(Y, t_cols)
        for c in self.cov_names_:
            feats.append(covs[c][:, t_cols])
        feats.append(np.repeat(self.category_codes_[:, None], len(t_cols), axis=1))
        return np.stack([f.astype(np.float32) for f in feats], axis=-1).reshape(n * len(t_cols), -1)

    def _encodings(self, Y: np.ndarray, t_cols: np.ndarray) -> list[np.ndarray]:
        """Target-mean encodings as the M5 winners used them (the series' mean, its mean per
        weekday, the category's weekday profile), computed *expanding*: the row at period t only
        averages targets before t, so no row sees its own target or a later one.

        * ``enc_series_mean``: the series' mean over all its periods before t;
        * ``enc_series_season``: its mean over the earlier periods of t's phase in the season
          (the same weekday, for daily data);
        * ``enc_category_season``: the category's ratio of the two (its weekday profile), the
          same for every series of the category.
        """
        n, T = Y.shape
        s = self.season_length
        ok = np.isfinite(Y)
        Yz = np.where(ok, Y, 0.0)
        # exclusive cumulative sums: column t holds the sum over columns < t
        total = np.concatenate([np.zeros((n, 1)), np.cumsum(Yz, axis=1)], axis=1)
        count = np.concatenate([np.zeros((n, 1)), np.cumsum(ok, axis=1)], axis=1)
        phase_sum = np.zeros((n, T + 1))
        phase_cnt = np.zeros((n, T + 1))
        for ph in range(s):
            cols = np.arange(ph, T + 1, s)  # columns t of this phase, up to T (the next period)
            before = cols[cols < T]
            cs = np.concatenate([np.zeros((n, 1)), np.cumsum(Yz[:, before], axis=1)], axis=1)
            cc = np.concatenate([np.zeros((n, 1)), np.cumsum(ok[:, before], axis=1)], axis=1)
            phase_sum[:, cols] = cs[:, : len(cols)]
            phase_cnt[:, cols] = cc[:, : len(cols)]
        t = np.clip(t_cols, 0, T)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total[:, t] / count[:, t]
            season = phase_sum[:, t] / phase_cnt[:, t]
            cat = self.category_codes_
            profile = np.full_like(mean, np.nan)
            for c in np.unique(cat):
                rows = cat == c
                num = _nanmean0(season[rows])
                den = _nanmean0(mean[rows])
                profile[rows] = np.where(den > 0, num / den, np.nan)[None, :]
        return [mean, season, profile]

    def feature_names(self) -> list[str]:
        return (
            [f"lag_{lag}" for lag in self.lags]
            + [f"mean_{w}" for w in self.windows]
            + [f"zero_share_{self.windows[-1]}", "since_last_sale"]
            + (
                ["enc_series_mean", "enc_series_season", "enc_category_season"]
                if getattr(self, "encodings", False)
                else []
            )
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
        covs = _with_future(self.covs_, future_covariates, self.ids_, self.future_dates(h))
        return self._recursive(self.booster_, self.Y_, covs, h)

    def feature_importance(self) -> pd.Series:
        gain = self.booster_.feature_importance("gain")
        return pd.Series(gain, index=self.feature_names()).sort_values(ascending=False)


def _nanmean0(a: np.ndarray) -> np.ndarray:
    """Mean over axis 0 ignoring NaN; NaN (without a warning) where a column has no value."""
    ok = np.isfinite(a)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, a, 0.0).sum(axis=0) / ok.sum(axis=0)


def booster_params(objective: str, tweedie_variance_power: float, **params) -> dict:
    """LightGBM parameters both forecasters share."""
    out = {
        "objective": objective,
        **params,
        "bagging_freq": 1,
        "verbosity": -1,
        # same data and parameters -> the same model whatever the thread count (a Dask
        # worker and this process must agree: backend=local and backend=dask are identical)
        "deterministic": True,
        "force_col_wise": True,
    }
    if objective == "tweedie":
        out["tweedie_variance_power"] = tweedie_variance_power
    return out


def _with_future(
    covs: dict[str, np.ndarray],
    future_covariates: pd.DataFrame | None,
    ids: np.ndarray,
    dates: pd.DatetimeIndex,
) -> dict[str, np.ndarray]:
    """History covariate matrices extended over ``dates``: supplied values, else the last known
    value carried forward."""
    fut = _future_matrices(future_covariates, ids, dates, tuple(covs))
    out = {}
    for c, hist in covs.items():
        ahead = fut.get(c)
        if ahead is None:
            last = pd.DataFrame(hist).ffill(axis=1).to_numpy()[:, -1:]
            ahead = np.repeat(last, len(dates), axis=1)
        out[c] = np.concatenate([hist, ahead], axis=1)
    return out


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


# --- direct, level-free LightGBM (issue 13) ---------------------------------------------------


def period_days(dates: pd.DatetimeIndex, freq: str) -> np.ndarray:
    """Days each period covers: months differ (28-31 days), so monthly demand is modelled per day."""
    if freq == "MS":
        return np.asarray(dates.days_in_month, dtype=float)
    return np.ones(len(dates))


class DirectLightGBMForecaster(Forecaster):
    """Direct (non-recursive) global LightGBM, as the M5 winners ran it beside recursive models.

    One booster per horizon block (``blocks`` equal blocks of ``horizon``; the step inside a block
    is a feature), trained on many forecast origins (``origins`` of them, ``origin_step`` apart)
    of every series at once. A block's model sees only what was known at the origin, so nothing
    is fed back and errors do not compound over the horizon.

    Level-free: every target and level feature is divided by the series' recent level (its mean
    demand per day over the last ``scale_window`` periods), so one model serves slow and fast
    series alike and can follow a series above any level it saw in training (a tree on raw
    units cannot). Rows are weighted by that level, so the loss is on units. Features:
    normalised lags and rolling means/spreads, the same period one and two seasons back (the
    seasonal profile), year-over-year growth, zero share, age, log level, price and price
    momentum (when the panel has a price), the target period's known covariates (calendar,
    events, SNAP …), the static columns in ``static_features`` as categoricals, and the step.

    The loss is ``l2`` on the level-free target by default (with level weights that is a
    squared error in units, WRMSSE's own loss); ``tweedie`` / ``poisson`` are the count losses.

    Quantiles: negative binomial around the mean, its per-series dispersion from this model's own
    errors on the last ``horizon`` periods (the model is fitted once without them first).
    """

    name = "lightgbm_direct"
    uses_future_covariates = True
    uses_static = True

    def __init__(
        self,
        horizon: int = 28,
        blocks: int = 4,
        lags: int = 14,
        windows: Sequence[int] = (7, 28, 91),
        scale_window: int = 28,
        season_length: int = 7,
        origins: int = 30,
        origin_step: int = 7,
        static_features: Sequence[str] = ("category",),
        dispersion_holdout: bool = True,
        objective: str = "l2",
        tweedie_variance_power: float = 1.2,
        num_boost_round: int = 400,
        learning_rate: float = 0.05,
        num_leaves: int = 63,
        min_data_in_leaf: int = 200,
        feature_fraction: float = 0.8,
        bagging_fraction: float = 0.8,
        lambda_l2: float = 1.0,
        num_threads: int = 0,
        seed: int = 0,
        quantiles: Sequence[float] = M5_QUANTILES,
        freq: str = "D",
    ):
        super().__init__(quantiles, freq)
        if horizon < 1 or blocks < 1:
            raise ValueError(f"{self.name}: horizon and blocks must be >= 1 ({horizon}, {blocks})")
        self.horizon = int(horizon)
        self.blocks = min(int(blocks), self.horizon)
        self.lags = int(lags)
        self.windows = tuple(sorted(windows))
        self.scale_window = int(scale_window)
        self.season_length = int(season_length)
        self.origins = int(origins)
        self.origin_step = int(origin_step)
        self.static_features = tuple(static_features)
        self.dispersion_holdout = dispersion_holdout
        self.num_boost_round = num_boost_round
        if objective not in ("l2", "tweedie", "poisson"):
            raise ValueError(
                f"{self.name}: objective must be l2, tweedie or poisson, not {objective!r}"
            )
        self.params = booster_params(
            objective,
            tweedie_variance_power,
            learning_rate=learning_rate,
            num_leaves=num_leaves,
            min_data_in_leaf=min_data_in_leaf,
            feature_fraction=feature_fraction,
            bagging_fraction=bagging_fraction,
            lambda_l2=lambda_l2,
            num_threads=num_threads,
            seed=seed,
        )

    # --- blocks and features ----------------------------------------------------------------
    def block_steps(self) -> list[np.ndarray]:
        return [b + 1 for b in np.array_split(np.arange(self.horizon), self.blocks)]

    def feature_names(self) -> list[str]:
        s = self.season_length
        return (
            [f"lag_{lag}" for lag in range(1, self.lags + 1)]
            + [f"mean_{w}" for w in self.windows]
            + [f"std_{self.scale_window}", f"same_period_{s}", f"same_period_{2 * s}"]
            + [f"growth_{s}", f"zero_share_{self.windows[-1]}", "age", "log_level"]
            + (["price_momentum"] if "price" in self.cov_names_ else [])
            + list(self.cov_names_)
            + list(self.static_names_)
            + ["step"]
        )

    def _rows(
        self, R: np.ndarray, covs: dict[str, np.ndarray], T: int, k: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features of origin ``T`` (columns < T known) for step ``k``; level; started mask."""
        n = R.shape[0]
        sw = self.scale_window
        s = self.season_length
        with np.errstate(invalid="ignore", divide="ignore"):
            recent = R[:, max(T - sw, 0) : T]
            level = np.nan_to_num(np.nanmean(recent, axis=1), nan=0.0) + 1e-3
            started = np.isfinite(R[:, :T]).any(axis=1) & (np.nan_to_num(R[:, :T]).sum(axis=1) > 0)

            def col(t):
                return R[:, t] if 0 <= t < T else np.full(n, np.nan)

            def mean(lo, hi):
                lo = max(lo, 0)
                return np.nanmean(R[:, lo:hi], axis=1) if hi > lo else np.full(n, np.nan)

            f = [col(T - lag) / level for lag in range(1, self.lags + 1)]
            f += [mean(T - w, T) / level for w in self.windows]
            f.append(np.nanstd(recent, axis=1) / level if recent.shape[1] else np.full(n, np.nan))
            tgt = T - 1 + k
            f.append(col(tgt - s) / level)
            f.append(col(tgt - 2 * s) / level)
            last = min(s, 3)
            f.append(mean(T - last, T) / mean(T - last - s, T - s))
            w = self.windows[-1]
            f.append(np.nanmean(R[:, max(T - w, 0) : T] == 0, axis=1))
            f.append(np.isfinite(R[:, :T]).sum(axis=1).astype(float))
            f.append(np.log(level))
            if "price" in self.cov_names_:
                p = covs["price"]
                f.append(p[:, tgt] / np.nanmean(p[:, max(T - s, 0) : T], axis=1))
            for c in self.cov_names_:
                f.append(covs[c][:, tgt])
            f += [self.static_codes_[:, i] for i in range(len(self.static_names_))]
            f.append(np.full(n, float(k)))
        X = np.stack([np.asarray(v, dtype=np.float32) for v in f], axis=1)
        X[~np.isfinite(X)] = np.nan
        return X, level, started

    def _train_blocks(self, R: np.ndarray, covs: dict[str, np.ndarray]) -> list[lgb.Booster]:
        T_end = R.shape[1]
        first = max(self.scale_window, 1)
        origins = list(range(T_end - 1, first - 1, -self.origin_step))[: self.origins]
        boosters = []
        names = self.feature_names()
        for steps in self.block_steps():
            X, y, w = [], [], []
            for T in origins:
                for k in steps:
                    if T - 1 + k >= T_end:
                        continue
                    Xk, level, started = self._rows(R, covs, T, k)
                    target = R[:, T - 1 + k] / level
                    keep = started & np.isfinite(target)
                    X.append(Xk[keep])
                    y.append(target[keep])
                    w.append(level[keep])
            data = self._dataset(X, y, w, names, f"steps {steps.tolist()}", T_end)
            boosters.append(lgb.train(self.params, data, num_boost_round=self.num_boost_round))
        return boosters

    def _dataset(self, X, y, w, names, what: str, T_end: int, free: bool = True) -> lgb.Dataset:
        """The level-weighted training rows of one block; a clear error where there are none."""
        if not X or sum(len(v) for v in y) == 0:
            raise ValueError(
                f"{self.name}: no training rows for {what}: the history ({T_end} periods) is "
                "shorter than scale_window + the block"
            )
        return lgb.Dataset(
            np.concatenate(X),
            np.concatenate(y),
            weight=np.concatenate(w),
            feature_name=names,
            categorical_feature=list(self.static_names_) or "auto",
            free_raw_data=free,
        )

    def _direct(self, boosters, R: np.ndarray, covs: dict[str, np.ndarray], h: int) -> np.ndarray:
        T = R.shape[1]
        out = np.zeros((R.shape[0], h))
        for booster, steps in zip(boosters, self.block_steps(), strict=True):
            for k in steps:
                if k > h:
                    continue
                X, level, started = self._rows(R, covs, T, k)
                pred = booster.predict(X, num_threads=self.params["num_threads"])
                out[:, k - 1] = np.where(started, np.clip(pred, 0, None) * level, 0.0)
        return out

    # --- fit / predict ----------------------------------------------------------------------
    def _fit(self, panel: pd.DataFrame, static_df: pd.DataFrame | None) -> None:
        covs = {}
        for c in COVARIATES:
            if c in panel:
                covs[c] = to_wide(panel, c)[2]
        self.cov_names_ = tuple(covs)
        names, codes = [], []
        if static_df is not None:
            s = static_df.set_index(C.UNIQUE_ID).reindex(self.ids_)
            for c in self.static_features:
                if c in s:
                    names.append(c)
                    code = pd.factorize(s[c])[0].astype(float)
                    codes.append(np.where(code < 0, np.nan, code))  # missing: LightGBM's NaN
        self.static_names_ = tuple(names)
        self.static_codes_ = np.stack(codes, axis=1) if codes else np.zeros((len(self.ids_), 0))
        self.days_ = period_days(self.dates_, self.freq)
        R = self.Y_ / self.days_[None, :]
        T = R.shape[1]
        if self.dispersion_holdout and self.horizon + 2 * self.scale_window < T:
            cut = T - self.horizon
            head = {c: m[:, :cut] for c, m in covs.items()}
            boosters = self._train_blocks(R[:, :cut], head)
            pred = self._direct(boosters, R[:, :cut], covs, self.horizon) * self.days_[None, cut:]
            self.alpha_ = dispersion(self.Y_[:, cut:], pred, min_points=self.horizon)
        self.boosters_ = self._train_blocks(R, covs)
        self.covs_ = covs
        if self.alpha_ is None:
            self.alpha_ = np.ones(len(self.ids_))

    def _predict_mean(self, h: int, future_covariates: pd.DataFrame | None) -> np.ndarray:
        if h > self.horizon:
            raise ValueError(f"{self.name}: fitted for horizon {self.horizon}, asked for {h}")
        future = self.future_dates(h)
        covs = _with_future(self.covs_, future_covariates, self.ids_, future)
        R = self.Y_ / self.days_[None, :]
        return self._direct(self.boosters_, R, covs, h) * period_days(future, self.freq)[None, :]

    def feature_importance(self) -> pd.Series:
        gain = sum(b.feature_importance("gain") for b in self.boosters_)
        return pd.Series(gain, index=self.feature_names()).sort_values(ascending=False)


# --- direct models of period sums (issue 13, item 3) ------------------------------------------


class PeriodSumLightGBMForecaster(DirectLightGBMForecaster):
    """Demand summed over ``period``-long blocks (7/14/28 days), forecast directly.

    A reorder policy orders from the demand over its protection period (lead time + review), not
    from daily points. This model learns that quantity itself: one LightGBM per block of
    ``period`` steps (``horizon / period`` blocks) whose target is the block's mean demand per day,
    level-free like :class:`DirectLightGBMForecaster` (divided by the series' recent level, rows
    weighted by it, so the loss is in units), trained on many forecast origins. Its quantiles are
    fitted directly too: one booster per level with LightGBM's pinball (``quantile``) objective
    on the same rows — no distributional assumption about the sum.

    Features are the direct model's at the block's first step, plus the block means of the known
    covariates (prices, events, holidays … over the whole block) and, where the history reaches a
    year back, last year's same block and the 28 days before last year's origin (so the trees can
    read a seasonal ramp such as the Christmas run-up).

    Output: the daily frame every forecaster gives, with each block's sum spread evenly over its
    days and its quantiles divided by the block length. The days of a block are therefore
    *comonotone* (``comonotone = True``): summed with the copula correlation ``rho = 1``
    (:mod:`src.forecast.paths`), they give back exactly the model's distribution of the block
    sum. Daily metrics of this model score a flat spread, not daily forecasts.
    """

    name = "lightgbm_sum"
    comonotone = True

    def __init__(
        self,
        period: int = 14,
        horizon: int = 14,
        lags: int = 14,
        windows: Sequence[int] = (7, 28, 91),
        scale_window: int = 28,
        season_length: int = 7,
        year_length: int | None = 364,
        origins: int = 40,
        origin_step: int = 7,
        static_features: Sequence[str] = ("category",),
        num_boost_round: int = 300,
        quantile_boost_round: int = 200,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_data_in_leaf: int = 100,
        feature_fraction: float = 0.8,
        bagging_fraction: float = 0.8,
        lambda_l2: float = 1.0,
        num_threads: int = 0,
        seed: int = 0,
        quantiles: Sequence[float] = M5_QUANTILES,
        freq: str = "D",
    ):
        if period < 1:
            raise ValueError(f"{self.name}: period must be >= 1, got {period}")
        horizon = int(np.ceil(max(int(horizon), 1) / period) * period)
        super().__init__(
            horizon=horizon,
            blocks=horizon // int(period),
            lags=lags,
            windows=windows,
            scale_window=scale_window,
            season_length=season_length,
            origins=origins,
            origin_step=origin_step,
            static_features=static_features,
            dispersion_holdout=False,
            objective="l2",
            num_boost_round=num_boost_round,
            learning_rate=learning_rate,
            num_leaves=num_leaves,
            min_data_in_leaf=min_data_in_leaf,
            feature_fraction=feature_fraction,
            bagging_fraction=bagging_fraction,
            lambda_l2=lambda_l2,
            num_threads=num_threads,
            seed=seed,
            quantiles=quantiles,
            freq=freq,
        )
        self.period = int(period)
        self.year_length = int(year_length) if year_length else None
        self.quantile_boost_round = int(quantile_boost_round)

    def block_steps(self) -> list[np.ndarray]:
        return [np.arange(b * self.period, (b + 1) * self.period) + 1 for b in range(self.blocks)]

    def feature_names(self) -> list[str]:
        year = ["last_year_block", "last_year_before"] if self.year_length else []
        return super().feature_names() + [f"block_mean_{c}" for c in self.cov_names_] + year

    def _block_rows(
        self, R: np.ndarray, covs: dict[str, np.ndarray], T: int, steps: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        X, level, started = self._rows(R, covs, T, int(steps[0]))
        lo, hi = T - 1 + int(steps[0]), T + int(steps[-1])  # the block's columns [lo, hi)
        extra = []
        with np.errstate(invalid="ignore", divide="ignore"):
            for c in self.cov_names_:
                m = covs[c][:, lo:hi]
                extra.append(np.nanmean(m, axis=1) if m.shape[1] else np.full(len(R), np.nan))
            if self.year_length:
                y = self.year_length

                def mean(a, b):
                    a, b = max(a, 0), min(b, R.shape[1])
                    return np.nanmean(R[:, a:b], axis=1) if b > a else np.full(len(R), np.nan)

                extra.append(mean(lo - y, hi - y) / level)
                extra.append(mean(T - y - 28, T - y) / level)
        if extra:
            E = np.stack([np.asarray(v, dtype=np.float32) for v in extra], axis=1)
            E[~np.isfinite(E)] = np.nan
            X = np.concatenate([X, E], axis=1)
        return X, level, started

    def _train_blocks(self, R: np.ndarray, covs: dict[str, np.ndarray]) -> list[list[lgb.Booster]]:
        T_end = R.shape[1]
        first = max(self.scale_window, 1)
        origins = list(range(T_end - self.period, first - 1, -self.origin_step))[: self.origins]
        names = self.feature_names()
        boosters = []
        for steps in self.block_steps():
            X, y, w = [], [], []
            for T in origins:
                if T + int(steps[-1]) > T_end:  # the block's actuals must all be known
                    continue
                Xb, level, started = self._block_rows(R, covs, T, steps)
                target = np.nanmean(R[:, T - 1 + steps[0] : T + steps[-1]], axis=1) / level
                keep = started & np.isfinite(target)
                X.append(Xb[keep])
                y.append(target[keep])
                w.append(level[keep])
            # one binned Dataset, every objective trained on it (the bins do not depend on it)
            data = self._dataset(X, y, w, names, f"block {steps[0]}..{steps[-1]}", T_end, False)
            models = []
            for objective, alpha, rounds in [("l2", None, self.num_boost_round)] + [
                ("quantile", q, self.quantile_boost_round) for q in self.quantiles
            ]:
                params = {**self.params, "objective": objective}  # l2 params: no Tweedie power
                if alpha is not None:
                    params["alpha"] = float(alpha)
                models.append(lgb.train(params, data, num_boost_round=rounds))
            boosters.append(models)
        return boosters

    def _block_predictions(self, R, covs) -> tuple[np.ndarray, np.ndarray]:
        """Per block: mean per day ``(n, blocks)`` and quantiles per day ``(n, blocks, Q)``."""
        T = R.shape[1]
        n = R.shape[0]
        mean = np.zeros((n, self.blocks))
        q = np.zeros((n, self.blocks, len(self.quantiles)))
        threads = self.params["num_threads"]
        for b, (models, steps) in enumerate(zip(self.boosters_, self.block_steps(), strict=True)):
            X, level, started = self._block_rows(R, covs, T, steps)
            preds = [np.clip(m.predict(X, num_threads=threads), 0, None) * level for m in models]
            mean[:, b] = np.where(started, preds[0], 0.0)
            qb = np.sort(np.stack(preds[1:], axis=1), axis=1)  # quantiles never cross
            q[:, b] = np.where(started[:, None], qb, 0.0)
        return mean, q

    def _future(self, h: int, future_covariates):
        if h > self.horizon:
            raise ValueError(f"{self.name}: fitted for horizon {self.horizon}, asked for {h}")
        future = self.future_dates(self.horizon)
        covs = _with_future(self.covs_, future_covariates, self.ids_, future)
        days = period_days(future, self.freq)
        return self._block_predictions(self.Y_ / self.days_[None, :], covs), days

    def predict(self, h: int, future_covariates: pd.DataFrame | None = None) -> pd.DataFrame:
        if self.ids_ is None:
            raise RuntimeError(f"{self.name}: call fit() before predict()")
        (mean, q), days = self._future(h, future_covariates)
        daily_mean = np.repeat(mean, self.period, axis=1)[:, :h] * days[None, :h]
        daily_q = np.repeat(q, self.period, axis=1)[:, :h] * days[None, :h, None]
        return self.to_frame(daily_mean, np.maximum.accumulate(daily_q, axis=2))

    def feature_importance(self) -> pd.Series:
        gain = sum(models[0].feature_importance("gain") for models in self.boosters_)
        return pd.Series(gain, index=self.feature_names()).sort_values(ascending=False)
