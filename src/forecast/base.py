"""The one forecasting interface, and the helpers every model shares.

A :class:`Forecaster` fits on the long panel (``unique_id, ds, y`` + covariates, statics in
``static_df``) and predicts ``h`` periods as a table ``unique_id, ds, model, y_hat, q0.005 …``.
Capability flags say what a model uses (``uses_future_covariates``, ``uses_static``): the refit
loop (:func:`src.forecast.backtest.refit_forecasts`) and the final refit hand a model only what
it uses. ``save`` / ``load`` round-trip a fitted model through a folder.

Quantiles: models that do not learn their own distribution get them from
:func:`negbin_quantiles` — demand is a count, often intermittent, so the point forecast is
taken as the mean of a negative binomial whose per-series over-dispersion is estimated from the
model's own errors (shrunk towards the panel's median for short histories).
"""

from __future__ import annotations

import importlib
import json
import pickle
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from src.features import columns as C
from src.forecast.metrics import M5_QUANTILES, Y_HAT, quantile_column

MODEL_COL = "model"
FREQ_OFFSETS = {"D": "D", "W": "W-MON", "MS": "MS"}


class Forecaster(ABC):
    """Base class: subclasses implement ``_fit`` and ``_predict_mean`` (or override ``predict``)."""

    name = "forecaster"
    uses_future_covariates = False
    uses_static = False

    def __init__(self, quantiles: Sequence[float] = M5_QUANTILES, freq: str = "D"):
        self.quantiles = tuple(quantiles)
        self.freq = freq
        self.ids_: np.ndarray | None = None
        self.last_ds_: pd.Timestamp | None = None
        self.alpha_: np.ndarray | None = None  # negative-binomial over-dispersion per series

    # --- public API -------------------------------------------------------------------------
    def fit(self, panel: pd.DataFrame, static_df: pd.DataFrame | None = None) -> Forecaster:
        check_panel(panel)
        self.ids_, self.dates_, self.Y_ = to_wide(panel)
        self.last_ds_ = self.dates_[-1]
        self._fit(panel, static_df)
        return self

    def predict(self, h: int, future_covariates: pd.DataFrame | None = None) -> pd.DataFrame:
        if self.ids_ is None:
            raise RuntimeError(f"{self.name}: call fit() before predict()")
        mean = np.clip(self._predict_mean(h, future_covariates), 0, None)
        q = negbin_quantiles(mean, self.alpha_, self.quantiles)
        return self.to_frame(mean, q)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with open(path / "model.pkl", "wb") as fh:
            pickle.dump(self, fh)
        write_class(path, self)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        with open(Path(path) / "model.pkl", "rb") as fh:
            model = pickle.load(fh)
        if not isinstance(model, Forecaster):
            raise TypeError(f"{path} does not hold a Forecaster")
        return model

    # --- for subclasses ---------------------------------------------------------------------
    @abstractmethod
    def _fit(self, panel: pd.DataFrame, static_df: pd.DataFrame | None) -> None: ...

    def _predict_mean(self, h: int, future_covariates: pd.DataFrame | None) -> np.ndarray:
        """Point forecasts (n_series, h); models with their own distribution override predict()."""
        raise TypeError(f"{type(self).__name__} must implement _predict_mean or override predict")

    def future_dates(self, h: int) -> pd.DatetimeIndex:
        return pd.date_range(self.last_ds_, periods=h + 1, freq=FREQ_OFFSETS[self.freq])[1:]

    def to_frame(self, mean: np.ndarray, q: np.ndarray | None) -> pd.DataFrame:
        n, h = mean.shape
        out = pd.DataFrame(
            {
                C.UNIQUE_ID: np.repeat(self.ids_, h),
                C.DS: np.tile(self.future_dates(h), n),
                MODEL_COL: self.name,
                Y_HAT: mean.ravel(),
            }
        )
        if q is not None:
            for i, level in enumerate(self.quantiles):
                out[quantile_column(level)] = q[:, :, i].ravel()
        return out

    def set_dispersion(self, y: np.ndarray, fitted: np.ndarray, window: int = 180) -> None:
        self.alpha_ = dispersion(y[:, -window:], fitted[:, -window:])


def write_class(path: Path, model: Forecaster) -> None:
    cls = type(model)
    (Path(path) / "forecaster.json").write_text(
        json.dumps({"class": f"{cls.__module__}.{cls.__qualname__}", "name": model.name})
    )


def load_forecaster(path: str | Path) -> Forecaster:
    """Load any saved forecaster: its class is recorded beside it in ``forecaster.json``."""
    path = Path(path)
    meta = json.loads((path / "forecaster.json").read_text())
    module, _, qualname = meta["class"].rpartition(".")
    cls = getattr(importlib.import_module(module), qualname)
    return cls.load(path)


# --- panel helpers ----------------------------------------------------------------------------


def check_panel(panel: pd.DataFrame) -> None:
    missing = [c for c in (C.UNIQUE_ID, C.DS, C.Y) if c not in panel]
    if missing:
        raise ValueError(f"panel lacks columns {missing}; expected unique_id, ds, y (+ covariates)")
    if panel.empty:
        raise ValueError("panel is empty")
    if panel.duplicated([C.UNIQUE_ID, C.DS]).any():
        raise ValueError("panel has duplicate (unique_id, ds) rows")


def to_wide(
    panel: pd.DataFrame, column: str = C.Y
) -> tuple[np.ndarray, pd.DatetimeIndex, np.ndarray]:
    """``(ids, dates, matrix)``: one row per series, NaN before a series starts."""
    wide = panel.pivot(index=C.UNIQUE_ID, columns=C.DS, values=column).sort_index()
    return (
        wide.index.to_numpy(dtype=object),
        pd.DatetimeIndex(wide.columns),
        wide.to_numpy(dtype=float),
    )


# --- uncertainty ------------------------------------------------------------------------------


def dispersion(y: np.ndarray, fitted: np.ndarray, min_points: int = 28) -> np.ndarray:
    """Per-series negative-binomial over-dispersion α (var = μ + α μ²) from errors.

    Series with fewer than ``min_points`` usable points, or no over-dispersion, get the panel's
    median α.
    """
    ok = np.isfinite(y) & np.isfinite(fitted)
    n = ok.sum(axis=1)
    err2 = np.where(ok, (y - fitted) ** 2, 0.0).sum(axis=1) / np.maximum(n, 1)
    mu = np.where(ok, np.clip(fitted, 0, None), 0.0).sum(axis=1) / np.maximum(n, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(mu > 1e-6, (err2 - mu) / mu**2, np.nan)
    alpha = np.clip(alpha, 0.0, 50.0)
    good = (n >= min_points) & np.isfinite(alpha)
    median = float(np.median(alpha[good])) if good.any() else 1.0
    return np.where(good, alpha, median)


def negbin_quantiles(
    mean: np.ndarray, alpha: np.ndarray | None, quantiles: Sequence[float]
) -> np.ndarray:
    """Quantiles ``(n, h, Q)`` of NB(mean, α) per series (Poisson where α≈0)."""
    n, h = mean.shape
    if alpha is None:
        alpha = np.ones(n)
    mu = np.clip(mean, 1e-9, None)
    a = np.clip(np.asarray(alpha, float), 1e-6, None)[:, None] * np.ones((1, h))
    size = 1.0 / a  # NB "n" parameter
    p = size / (size + mu)
    out = np.empty((n, h, len(quantiles)))
    for i, q in enumerate(quantiles):
        out[:, :, i] = stats.nbinom.ppf(q, size, p)
    out[mean <= 1e-9] = 0.0
    return np.maximum.accumulate(out, axis=2)  # quantiles never cross
