"""Rolling-origin refits and backtests: refit at each cutoff, forecast ``horizon`` periods, score.

Cutoffs are ``windows`` origins ``step`` periods apart, the last one ``horizon`` periods before
the end of the panel. Only the history up to each cutoff is used for fitting; the future
covariates handed to the model are the columns named in ``known_covariates`` (what is really
known in advance: calendar, holidays, events, planned prices), never realised values.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from src.features import columns as C
from src.forecast.base import FREQ_OFFSETS, Forecaster
from src.forecast.metrics import M5_QUANTILES, evaluate
from src.forecast.paths import protection_scores

log = logging.getLogger(__name__)
CUTOFF = "cutoff"


@dataclass(frozen=True)
class BacktestSpec:
    horizon: int = 28
    windows: int = 2
    step: int = 28
    known_covariates: tuple[str, ...] = ("dow", "week", "month", "day", "holiday", "event", "snap")
    # periods of lead time + review: also score the forecast of their summed demand (the
    # quantity a reorder policy orders from; src.forecast.paths.protection_scores), None: off
    protection_periods: int | None = None
    protection_rho: float = 0.3


@dataclass
class Origin:
    """One refit: the cutoff, the data before and after it, the forecast, its fit time."""

    cutoff: pd.Timestamp
    train: pd.DataFrame
    window: pd.DataFrame  # the panel's rows in the forecast window (actuals, known covariates)
    forecast: pd.DataFrame
    seconds: float


@dataclass
class BacktestResult:
    forecasts: pd.DataFrame  # unique_id, ds, cutoff, model, y_hat, q…, y
    per_window: list[dict[str, float]]
    per_series: pd.DataFrame  # per series and window
    overall: dict[str, float]
    fit_seconds: list[float] = field(default_factory=list)


def cutoffs(last_ds: pd.Timestamp, spec: BacktestSpec, freq: str = "D") -> list[pd.Timestamp]:
    offset = pd.tseries.frequencies.to_offset(FREQ_OFFSETS[freq])
    last_cut = pd.Timestamp(last_ds) - offset * spec.horizon
    return [last_cut - offset * (spec.step * k) for k in reversed(range(spec.windows))]


def known_future(panel: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    cols = [c for c in columns if c in panel]
    return panel[[C.UNIQUE_ID, C.DS, *cols]]


def refit_forecasts(
    make_model: Callable[[], Forecaster],
    panel: pd.DataFrame,
    static_df: pd.DataFrame | None,
    cuts: Sequence[pd.Timestamp],
    horizon: int,
    freq: str = "D",
    known_covariates: Sequence[str] = (),
) -> Iterator[Origin]:
    """The one refit loop: for each cutoff, a fresh model fitted on the panel up to and including
    it forecasts the ``horizon`` periods after it, given only the ``known_covariates`` of that
    window (and static features, where the model uses them). Backtests score these forecasts;
    the policy simulation orders from them on every review day.
    """
    offset = pd.tseries.frequencies.to_offset(FREQ_OFFSETS[freq])
    t0 = time.perf_counter()
    for i, cut in enumerate(cuts):
        train = panel[panel[C.DS] <= cut]
        end = cut + offset * horizon
        window = panel[(panel[C.DS] > cut) & (panel[C.DS] <= end)]
        window = window[window[C.UNIQUE_ID].isin(set(train[C.UNIQUE_ID]))]
        t = time.perf_counter()
        model = make_model()
        model.fit(train, static_df if model.uses_static else None)
        future = known_future(window, known_covariates) if model.uses_future_covariates else None
        fc = model.predict(horizon, future)
        seconds = time.perf_counter() - t
        log.info(
            "[origin %d/%d] cutoff %s: refit + forecast %.1f s (%.0f s so far)",
            i + 1,
            len(cuts),
            pd.Timestamp(cut).date(),
            seconds,
            time.perf_counter() - t0,
        )
        yield Origin(pd.Timestamp(cut), train, window, fc, seconds)


def backtest(
    make_model: Callable[[], Forecaster],
    panel: pd.DataFrame,
    static_df: pd.DataFrame | None,
    spec: BacktestSpec,
    freq: str = "D",
    quantiles: Sequence[float] = M5_QUANTILES,
    on_window: Callable[[int, dict[str, float]], None] | None = None,
) -> BacktestResult:
    """Score the refit loop's forecasts at every cutoff; ``on_window(i, metrics)`` is called
    after each window (Optuna uses it to report intermediate values and prune)."""
    forecasts, per_window, per_series, seconds = [], [], [], []
    cuts = cutoffs(panel[C.DS].max(), spec, freq)
    origins = refit_forecasts(
        make_model, panel, static_df, cuts, spec.horizon, freq, spec.known_covariates
    )
    for i, o in enumerate(origins):
        seconds.append(o.seconds)
        ps, overall = evaluate(o.forecast, o.window, o.train, quantiles=quantiles)
        if spec.protection_periods and spec.protection_periods <= spec.horizon:
            pps, pov = protection_scores(
                o.forecast, o.window, o.train, spec.protection_periods, spec.protection_rho
            )
            ps = ps.merge(pps, on=C.UNIQUE_ID, how="left")
            overall |= pov
        per_window.append(overall)
        per_series.append(ps.assign(window=i, **{CUTOFF: o.cutoff}))
        forecasts.append(
            o.forecast.merge(
                o.window[[C.UNIQUE_ID, C.DS, C.Y]], on=[C.UNIQUE_ID, C.DS], how="left"
            ).assign(**{CUTOFF: o.cutoff})
        )
        log.info(
            "[window %d/%d] cutoff %s: %s",
            i + 1,
            len(cuts),
            o.cutoff.date(),
            ", ".join(f"{k} {v:.4f}" for k, v in overall.items()),
        )
        if on_window is not None:
            on_window(i, overall)
    keys = per_window[0].keys()
    overall = {k: float(np.mean([w[k] for w in per_window])) for k in keys}
    return BacktestResult(
        forecasts=pd.concat(forecasts, ignore_index=True),
        per_window=per_window,
        per_series=pd.concat(per_series, ignore_index=True),
        overall=overall,
        fit_seconds=seconds,
    )
