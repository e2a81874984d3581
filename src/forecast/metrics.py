"""Forecast accuracy metrics as pure functions (M5 definitions where M5 has one).

Array functions work on one series (``y_train`` = its history, ``y_true`` / ``y_pred`` = the
horizon); :func:`evaluate` applies them to long tables and aggregates.

* **RMSSE** = sqrt(mean((y - ŷ)²) / scale), scale = mean squared one-step naive error of the
  training history *from the first non-zero sale on*.
* **WRMSSE** = Σ wᵢ RMSSEᵢ with wᵢ = each series' share of revenue (units × price) over the last
  28 training days.
* **MASE** = mean|y - ŷ| / mean|yₜ - yₜ₋ₘ| over the training history.
* **bias** = Σ(ŷ - y) / Σ y (relative; positive = over-forecast).
* **pinball** loss of quantile q: mean(max(q (y - ŷ_q), (q - 1)(y - ŷ_q))).
* **SPL / WSPL** (M5 uncertainty): pinball scaled by the mean absolute one-step naive error from
  the first non-zero sale, averaged over quantiles; WSPL weights series as WRMSSE does.
* **coverage** of an interval: share of actuals inside [q_lo, q_hi].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from src.features import columns as C

M5_QUANTILES = (0.005, 0.025, 0.165, 0.25, 0.5, 0.75, 0.835, 0.975, 0.995)
Y_HAT = "y_hat"


def quantile_column(q: float) -> str:
    """``0.025 -> "q0.025"``, ``0.5 -> "q0.5"`` — the one naming scheme for quantile columns."""
    return f"q{q:g}"


def _from_first_sale(y_train: np.ndarray) -> np.ndarray:
    nz = np.flatnonzero(np.asarray(y_train) != 0)
    return np.asarray(y_train, dtype=float)[nz[0] :] if len(nz) else np.asarray([], dtype=float)


def rmsse_scale(y_train: np.ndarray) -> float:
    h = _from_first_sale(y_train)
    return float(np.mean(np.diff(h) ** 2)) if len(h) > 1 else np.nan


def spl_scale(y_train: np.ndarray) -> float:
    h = _from_first_sale(y_train)
    return float(np.mean(np.abs(np.diff(h)))) if len(h) > 1 else np.nan


def rmsse(y_true: np.ndarray, y_pred: np.ndarray, y_train: np.ndarray) -> float:
    scale = rmsse_scale(y_train)
    mse = float(np.mean((np.asarray(y_true, float) - np.asarray(y_pred, float)) ** 2))
    return float(np.sqrt(mse / scale)) if scale and np.isfinite(scale) and scale > 0 else np.nan


def mase(y_true: np.ndarray, y_pred: np.ndarray, y_train: np.ndarray, season: int = 1) -> float:
    y_train = np.asarray(y_train, float)
    if len(y_train) <= season:
        return np.nan
    scale = float(np.mean(np.abs(y_train[season:] - y_train[:-season])))
    mae = float(np.mean(np.abs(np.asarray(y_true, float) - np.asarray(y_pred, float))))
    return mae / scale if scale > 0 else np.nan


def bias(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    total = float(np.sum(y_true))
    err = float(np.sum(np.asarray(y_pred, float) - np.asarray(y_true, float)))
    return err / total if total else np.nan


def pinball(y_true: np.ndarray, y_q: np.ndarray, q: float) -> float:
    diff = np.asarray(y_true, float) - np.asarray(y_q, float)
    return float(np.mean(np.maximum(q * diff, (q - 1) * diff)))


def spl(
    y_true: np.ndarray, y_qs: np.ndarray, quantiles: Sequence[float], y_train: np.ndarray
) -> float:
    """Scaled pinball loss averaged over quantiles; ``y_qs`` has one column per quantile."""
    scale = spl_scale(y_train)
    if not scale or not np.isfinite(scale) or scale <= 0:
        return np.nan
    y_qs = np.asarray(y_qs, float).reshape(len(y_true), len(quantiles))
    losses = [pinball(y_true, y_qs[:, i], q) for i, q in enumerate(quantiles)]
    return float(np.mean(losses) / scale)


def coverage(y_true: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    y = np.asarray(y_true, float)
    return float(np.mean((y >= np.asarray(lower, float)) & (y <= np.asarray(upper, float))))


def revenue_weights(train: pd.DataFrame, days: int = 28, price_col: str = C.PRICE) -> pd.Series:
    """M5 weights: each series' share of revenue over the last ``days`` periods of ``train``.

    Without a price column, units are used (every series priced 1).
    """
    last = train[C.DS].max()
    recent = train[train[C.DS] > last - pd.Timedelta(days=days)]
    price = recent[price_col].fillna(0.0) if price_col in recent else 1.0
    revenue = (recent[C.Y] * price).groupby(recent[C.UNIQUE_ID]).sum()
    total = revenue.sum()
    return revenue / total if total > 0 else revenue * 0 + 1 / max(len(revenue), 1)


def _history_scales(train: pd.DataFrame, ids: np.ndarray, season: int) -> dict[str, np.ndarray]:
    """Per series of ``ids`` (NaN without history): the RMSSE and SPL scales (one-step naive
    errors from the first non-zero sale) and the MASE scale (seasonal naive over the history)."""
    t = train[[C.UNIQUE_ID, C.DS, C.Y]].sort_values([C.UNIQUE_ID, C.DS], kind="stable")
    uid = t[C.UNIQUE_ID].to_numpy()
    code = pd.Index(ids).get_indexer(uid)
    keep = code >= 0
    code, y = code[keep], t[C.Y].to_numpy(float)[keep]
    n = len(ids)
    out = {k: np.full(n, np.nan) for k in ("rmsse", "spl", "mase")}
    if not len(y):
        return out
    start = np.r_[True, code[1:] != code[:-1]]  # first row of each series
    # rows from the series' first non-zero sale on: a running "seen a sale" within each series
    nonzero = (y != 0).astype(np.int64)
    seen = np.cumsum(nonzero)
    first = np.maximum.accumulate(np.where(start, np.arange(len(y)), 0))
    pos = np.arange(len(y)) - first  # position within the series
    base = np.where(first > 0, seen[np.maximum(first - 1, 0)], 0)
    started = (seen - base) > 0
    # a one-step difference counts when the previous row (same series) had started
    step = np.zeros(len(y), bool)
    step[1:] = (~start[1:]) & started[:-1]
    d = np.zeros(len(y))
    d[1:] = y[1:] - y[:-1]
    k = np.bincount(code[step], minlength=n).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["rmsse"] = np.where(k > 0, np.bincount(code[step], d[step] ** 2, n) / k, np.nan)
        out["spl"] = np.where(k > 0, np.bincount(code[step], np.abs(d[step]), n) / k, np.nan)
        s_ok = pos >= season
        ds = np.zeros(len(y))
        ds[season:] = y[season:] - y[:-season]
        m = np.bincount(code[s_ok], minlength=n).astype(float)
        out["mase"] = np.where(m > 0, np.bincount(code[s_ok], np.abs(ds[s_ok]), n) / m, np.nan)
    return out


def evaluate(
    forecasts: pd.DataFrame,
    actuals: pd.DataFrame,
    train: pd.DataFrame,
    quantiles: Sequence[float] = M5_QUANTILES,
    interval: tuple[float, float] = (0.025, 0.975),
    weights: pd.Series | None = None,
    season: int = 7,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per-series metrics and their aggregates for one forecast window.

    ``forecasts``: ``unique_id, ds, y_hat`` (+ quantile columns); ``actuals``: ``unique_id, ds, y``;
    ``train``: the history the forecast was made from (``unique_id, ds, y`` [+ ``price``]).
    """
    merged = actuals[[C.UNIQUE_ID, C.DS, C.Y]].merge(forecasts, on=[C.UNIQUE_ID, C.DS], how="inner")
    if merged.empty:
        raise ValueError("forecasts and actuals share no (unique_id, ds)")
    qcols = [quantile_column(q) for q in quantiles if quantile_column(q) in merged]
    qs = [q for q in quantiles if quantile_column(q) in merged]
    lo, hi = quantile_column(interval[0]), quantile_column(interval[1])
    # one vectorised pass per table (the same definitions as the array functions above, which
    # a test holds it to): group codes, then sums per series with bincount
    merged = merged.sort_values([C.UNIQUE_ID, C.DS], kind="stable")
    ids, code = np.unique(merged[C.UNIQUE_ID].to_numpy(), return_inverse=True)
    n = len(ids)
    scales = _history_scales(train, ids, season)
    y, yh = merged[C.Y].to_numpy(float), merged[Y_HAT].to_numpy(float)
    count = np.bincount(code, minlength=n).astype(float)

    def per(values: np.ndarray) -> np.ndarray:
        return np.bincount(code, weights=values, minlength=n)

    err = yh - y
    actual, forecast = per(y), per(yh)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok_r = np.isfinite(scales["rmsse"]) & (scales["rmsse"] > 0)
        cols = {
            C.UNIQUE_ID: ids,
            "rmsse": np.where(ok_r, np.sqrt(per(err**2) / count / scales["rmsse"]), np.nan),
            "mase": np.where(scales["mase"] > 0, per(np.abs(err)) / count / scales["mase"], np.nan),
            "mae": per(np.abs(err)) / count,
            "bias": np.where(actual != 0, (forecast - actual) / actual, np.nan),
            "actual": actual,
            "forecast": forecast,
        }
        if qcols:
            loss = np.zeros(n)
            for c, q in zip(qcols, qs, strict=True):
                d = y - merged[c].to_numpy(float)
                loss += per(np.maximum(q * d, (q - 1) * d)) / count
            ok_s = np.isfinite(scales["spl"]) & (scales["spl"] > 0)
            cols["spl"] = np.where(ok_s, loss / len(qs) / scales["spl"], np.nan)
        if lo in merged and hi in merged:
            inside = (y >= merged[lo].to_numpy(float)) & (y <= merged[hi].to_numpy(float))
            cols["coverage"] = per(inside.astype(float)) / count
    per_series = pd.DataFrame(cols)
    w = weights if weights is not None else revenue_weights(train)
    per_series["weight"] = per_series[C.UNIQUE_ID].map(w).fillna(0.0).to_numpy()
    per_series["weight"] /= per_series["weight"].sum() or 1.0
    valid = per_series["rmsse"].notna()
    overall = {
        "wrmsse": float(
            (per_series.loc[valid, "rmsse"] * per_series.loc[valid, "weight"]).sum()
            / per_series.loc[valid, "weight"].sum()
        ),
        "rmsse_mean": float(per_series["rmsse"].mean()),
        "mase_mean": float(per_series["mase"].mean()),
        "mae": float(np.mean(np.abs(merged[C.Y] - merged[Y_HAT]))),
        "bias": bias(merged[C.Y].to_numpy(), merged[Y_HAT].to_numpy()),
    }
    if "spl" in per_series:
        ok = per_series["spl"].notna()
        overall["wspl"] = float(
            (per_series.loc[ok, "spl"] * per_series.loc[ok, "weight"]).sum()
            / per_series.loc[ok, "weight"].sum()
        )
        overall["pinball_mean"] = float(
            np.mean([pinball(merged[C.Y], merged[c], q) for c, q in zip(qcols, qs, strict=True)])
        )
    if lo in merged and hi in merged:
        overall[f"coverage_{round((interval[1] - interval[0]) * 100)}"] = coverage(
            merged[C.Y], merged[lo], merged[hi]
        )
    return per_series, overall
