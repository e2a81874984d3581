"""Demand over the protection period, from a forecast's daily quantiles (sample paths).

Part of the forecast layer because it is a property of a forecast — the policy layer orders from
it, and backtests score it (:func:`protection_scores`: pinball loss of the lead-time + review
demand, the quantity a reorder policy actually uses).

A forecast gives, per series and day, a mean and quantiles (``q0.005 … q0.995``). A policy needs
the distribution of the *sum* of demand over the lead time (``s``) or lead time plus review
period (``S``), possibly with a random lead time. We draw joint daily paths from the quantile
functions and add them up:

* each day's marginal is the forecast's own quantile function (linear between the published
  levels, flat beyond the outermost ones), so skew and zero-inflation are kept — no normal
  assumption;
* days are joined by a one-factor Gaussian copula with correlation ``rho``: ``0`` treats days as
  independent, ``1`` as comonotone (a forecast that is wrong is wrong on every day, which is what
  level errors on lumpy retail series look like); the default sits between and is a config value;
* with ``lead_time_std > 0`` each draw gets its own lead time (normal, rounded, at least 1 day).

Draws are seeded, so a plan is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import special

from src.features import columns as C
from src.forecast.metrics import M5_QUANTILES, Y_HAT, revenue_weights

# forecasters whose days are one period sum spread evenly (their ``comonotone`` attribute): summed
# with rho = 1 their days give back the model's distribution of the sum, with rho < 1 they would
# not, so a policy must join them comonotonically
COMONOTONE_MODELS = frozenset({"lightgbm_sum"})


def comonotone(forecast: pd.DataFrame) -> bool:
    """Whether a forecast frame comes from a forecaster of period sums (see COMONOTONE_MODELS)."""
    if "model" not in forecast:
        return False
    names = set(forecast["model"].astype(str).unique())
    return bool(names) and names <= COMONOTONE_MODELS


def quantile_levels(forecast: pd.DataFrame) -> list[tuple[float, str]]:
    """``(level, column)`` for every quantile column of a forecast frame, sorted by level."""
    out = []
    for col in forecast.columns:
        if col.startswith("q"):
            try:
                out.append((float(col[1:]), col))
            except ValueError:
                continue
    if not out:
        raise ValueError(
            f"forecast has no quantile columns (q0.5, …); columns: {list(forecast.columns)}"
        )
    return sorted(out)


def forecast_arrays(
    forecast: pd.DataFrame,
) -> tuple[np.ndarray, pd.DatetimeIndex, np.ndarray, np.ndarray, np.ndarray]:
    """``(ids, dates, mean (n, h), quantiles (n, h, Q), levels (Q,))`` from a long forecast frame.

    Every series must cover the same dates (as every forecaster here produces)."""
    levels = quantile_levels(forecast)
    f = forecast.sort_values([C.UNIQUE_ID, C.DS])
    ids = f[C.UNIQUE_ID].unique()
    dates = pd.DatetimeIndex(f[C.DS].unique()).sort_values()
    n, h = len(ids), len(dates)
    if len(f) != n * h:
        raise ValueError(f"forecast is not rectangular: {len(f)} rows for {n} series x {h} dates")
    mean = f[Y_HAT].to_numpy(float).reshape(n, h)
    q = f[[c for _, c in levels]].to_numpy(float).reshape(n, h, len(levels))
    q = np.maximum.accumulate(np.clip(q, 0.0, None), axis=2)
    return ids, dates, np.clip(mean, 0.0, None), q, np.array([lv for lv, _ in levels])


def _inverse_cdf(u: np.ndarray, levels: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Piecewise-linear quantile function: ``u (n, draws, h)``, ``q (n, h, Q)`` -> values."""
    j = np.clip(np.searchsorted(levels, u, side="right"), 1, len(levels) - 1)
    lo_l, hi_l = levels[j - 1], levels[j]
    w = np.clip((u - lo_l) / (hi_l - lo_l), 0.0, 1.0)
    # gather the bracketing quantiles by index (no (n, draws, Q, h) broadcast: 2.8x faster,
    # a fraction of the memory, the same values)
    series = np.arange(q.shape[0])[:, None, None]
    day = np.arange(q.shape[1])[None, None, :]
    lo = q[series, day, j - 1]
    hi = q[series, day, j]
    return lo + w * (hi - lo)


def daily_path_blocks(
    quantiles: np.ndarray,
    levels: Sequence[float],
    draws: int = 1000,
    rho: float = 0.5,
    seed: int = 0,
    rows: int = 256,
):
    """Yield ``(start, paths)`` for consecutive blocks of at most ``rows`` series: the values
    :func:`daily_paths` gives for those rows (one random stream, drawn block after block), in
    ``rows x draws x h`` memory instead of ``n x draws x h``."""
    if not 0.0 <= rho <= 1.0:
        raise ValueError(f"rho must be in [0, 1], got {rho}")
    levels = np.asarray(levels, float)
    n, h, _ = quantiles.shape
    rng = np.random.default_rng(seed)
    common = rng.standard_normal((n, draws, 1))
    for start in range(0, n, max(int(rows), 1)):
        stop = min(start + int(rows), n)
        own = rng.standard_normal((stop - start, draws, h))  # the stream continues in C order
        z = np.sqrt(rho) * common[start:stop] + np.sqrt(1.0 - rho) * own
        u = 0.5 * (1.0 + special.erf(z / np.sqrt(2.0)))
        yield start, _inverse_cdf(u, levels, quantiles[start:stop])


def daily_paths(
    quantiles: np.ndarray,
    levels: Sequence[float],
    draws: int = 1000,
    rho: float = 0.5,
    seed: int = 0,
) -> np.ndarray:
    """Joint daily demand paths ``(n, draws, h)`` with the forecast's marginals."""
    n, h, _ = quantiles.shape
    blocks = [p for _, p in daily_path_blocks(quantiles, levels, draws, rho, seed, rows=max(n, 1))]
    return np.concatenate(blocks) if blocks else np.empty((0, draws, h))


def lead_time_draws(
    n: int, draws: int, days: float, lead_time_std: float, seed: int = 1
) -> np.ndarray:
    """Each draw's lead time ``(n, draws)``: rounded normal, at least 1 day (fixed when std = 0)."""
    if lead_time_std > 0:
        rng = np.random.default_rng(seed)
        return np.maximum(np.rint(rng.normal(days, lead_time_std, size=(n, draws))), 1.0)
    return np.full((n, draws), float(days))


def period_demand(
    paths: np.ndarray,
    days: float,
    lead_time_std: float = 0.0,
    extra_days: float = 0.0,
    seed: int = 1,
    lead_times: np.ndarray | None = None,
) -> np.ndarray:
    """Demand summed over the first ``days`` (+ ``extra_days``) of each path: ``(n, draws)``.

    With ``lead_time_std > 0``, ``days`` is the mean lead time and each draw uses its own
    rounded normal lead time (at least 1 day; ``lead_times`` gives them when drawn already);
    ``extra_days`` (the review period) is added unchanged. Lengths beyond the forecast horizon
    are cut at the horizon.
    """
    n, draws, h = paths.shape
    csum = np.concatenate([np.zeros((n, draws, 1)), np.cumsum(paths, axis=2)], axis=2)
    lt = (
        lead_times
        if lead_times is not None
        else lead_time_draws(n, draws, days, lead_time_std, seed)
    )
    length = np.clip(np.rint(lt + extra_days).astype(int), 0, h)
    return np.take_along_axis(csum, length[:, :, None], axis=2)[:, :, 0]


def horizon_needed(lead_time: float, review_period: float, lead_time_std: float = 0.0) -> int:
    """Forecast days a plan needs: ``L + R`` plus three lead-time standard deviations."""
    return int(np.ceil(lead_time + review_period + 3.0 * lead_time_std))


def protection_scores(
    forecast: pd.DataFrame,
    actuals: pd.DataFrame,
    train: pd.DataFrame,
    days: int,
    rho: float = 0.3,
    draws: int = 500,
    seed: int = 0,
    quantiles: Sequence[float] = M5_QUANTILES,
    weights: pd.Series | None = None,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """How well a forecast states demand over the next ``days`` periods (lead time + review).

    The forecast's daily quantiles are joined into paths (the policy's own copula, ``rho``) and
    summed over the first ``days``; the quantiles of that sum are scored by pinball loss against
    the realised sum, scaled per series by the mean absolute change between consecutive
    ``days``-sums of its history (from its first sale) — SPL of the protection-period demand.
    Returns per-series ``pspl`` / ``protection_actual`` / ``protection_mean`` and the overall
    revenue-weighted ``wpspl_<days>`` and ``coverage90_<days>`` (share of sums inside the
    5-95 % band).
    """
    days = int(days)
    ids, dates, mean, q, levels = forecast_arrays(forecast)
    if len(dates) < days:
        raise ValueError(f"protection period of {days} periods exceeds the forecast's {len(dates)}")
    window = dates[:days]
    act = (
        actuals[actuals[C.DS].isin(window)]
        .pivot(index=C.UNIQUE_ID, columns=C.DS, values=C.Y)
        .reindex(index=ids, columns=window)
    )
    complete = act.notna().all(axis=1).to_numpy()
    actual = act.fillna(0.0).to_numpy().sum(axis=1)
    loss, in_band = protection_loss(q[:, :days], levels, actual, rho, draws, seed, quantiles)
    hist = train.pivot(index=C.UNIQUE_ID, columns=C.DS, values=C.Y).reindex(ids).to_numpy()
    scale = period_sum_scale(hist, days)
    with np.errstate(divide="ignore", invalid="ignore"):
        pspl = np.where((scale > 0) & complete, loss / scale, np.nan)
    per_series = pd.DataFrame(
        {
            C.UNIQUE_ID: ids,
            "pspl": pspl,
            "protection_actual": actual,
            "protection_mean": mean[:, :days].sum(axis=1),
            "protection_in_band": np.where(complete, in_band, np.nan),
        }
    )
    w = (weights if weights is not None else revenue_weights(train)).reindex(ids).fillna(0.0)
    ok = per_series["pspl"].notna().to_numpy() & (w.to_numpy() > 0)
    wpspl = (
        float(np.sum(pspl[ok] * w.to_numpy()[ok]) / w.to_numpy()[ok].sum()) if ok.any() else np.nan
    )
    overall = {
        f"wpspl_{days}": wpspl,
        f"coverage90_{days}": float(np.nanmean(per_series["protection_in_band"])),
    }
    return per_series, overall


def protection_loss(
    quantiles_days: np.ndarray,
    levels: Sequence[float],
    actual: np.ndarray,
    rho: float,
    draws: int = 500,
    seed: int = 0,
    grid: Sequence[float] = M5_QUANTILES,
) -> tuple[np.ndarray, np.ndarray]:
    """Per series: pinball loss (mean over ``grid``) of the summed-path quantiles against the
    realised sums ``actual``, and whether the sum fell inside the 5-95 % band."""
    (loss,), band = protection_losses(quantiles_days, levels, actual, rho, draws, seed, [grid])
    return loss, band


def protection_losses(
    quantiles_days: np.ndarray,
    levels: Sequence[float],
    actual: np.ndarray,
    rho: float,
    draws: int,
    seed: int,
    grids: Sequence[Sequence[float]],
) -> tuple[list[np.ndarray], np.ndarray]:
    """:func:`protection_loss` at several quantile grids from one set of sampled paths (the
    sampling is the cost; every grid is scored on the same sums)."""
    n = quantiles_days.shape[0]
    sums = np.empty((n, draws))
    for start, paths in daily_path_blocks(quantiles_days, levels, draws, rho, seed):
        sums[start : start + len(paths)] = paths.sum(axis=2)
    actual = np.asarray(actual, float)
    losses = []
    for grid in grids:
        g = np.asarray(grid, float)
        sq = np.quantile(sums, g, axis=1).T  # (n, Q)
        err = actual[:, None] - sq
        losses.append(np.mean(np.maximum(g * err, (g - 1) * err), axis=1))
    lo, hi = np.quantile(sums, [0.05, 0.95], axis=1)
    return losses, (actual >= lo) & (actual <= hi)


def period_sum_scale(history: np.ndarray, days: int) -> np.ndarray:
    """Per series: mean absolute change between consecutive ``days``-sums of its history from
    its first sale (the naive error of the protection-period demand); NaN with < 2 sums."""
    scale = np.full(history.shape[0], np.nan)
    for i, row in enumerate(history):
        row = row[np.isfinite(row)]
        nz = np.flatnonzero(row > 0)
        row = row[nz[0] :] if len(nz) else row[:0]
        k = len(row) // days
        if k > 1:
            blocks = row[len(row) - k * days :].reshape(k, days).sum(axis=1)
            scale[i] = np.mean(np.abs(np.diff(blocks)))
    return scale
