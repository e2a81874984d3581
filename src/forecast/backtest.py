"""Rolling-origin backtests: refit at each cutoff, forecast ``horizon`` periods, score.

Cutoffs are ``windows`` origins ``step`` periods apart, the last one ``horizon`` periods before
the end of the panel. Only the history up to each cutoff is used for fitting; the future
covariates handed to the model are the columns named in ``known_covariates`` (what is really
known in advance: calendar, holidays, events, planned prices), never realised values.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from src.features import columns as C
from src.forecast.base import FREQ_OFFSETS, Forecaster
from src.forecast.metrics import M5_QUANTILES, evaluate

log = logging.getLogger(__name__)
CUTOFF = "cutoff"


@dataclass(frozen=True)
class BacktestSpec:
    horizon: int = 28
    windows: int = 2
    step: int = 28
    known_covariates: tuple[str, ...] = ("dow", "week", "month", "day", "holiday", "event", "snap")


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


def backtest(
    make_model: Callable[[], Forecaster],
    panel: pd.DataFrame,
    static_df: pd.DataFrame | None,
    spec: BacktestSpec,
    freq: str = "D",
    quantiles: Sequence[float] = M5_QUANTILES,
    on_window: Callable[[int, dict[str, float]], None] | None = None,
) -> BacktestResult:
    """Refit a fresh model at each cutoff; ``on_window(i, metrics)`` is called after each window
    (Optuna uses it to report intermediate values and prune)."""
    offset = pd.tseries.frequencies.to_offset(FREQ_OFFSETS[freq])
    forecasts, per_window, per_series, seconds = [], [], [], []
    cuts = cutoffs(panel[C.DS].max(), spec, freq)
    for i, cut in enumerate(cuts):
        train = panel[panel[C.DS] <= cut]
        end = cut + offset * spec.horizon
        test = panel[(panel[C.DS] > cut) & (panel[C.DS] <= end)]
        train_ids = set(train[C.UNIQUE_ID])
        test = test[test[C.UNIQUE_ID].isin(train_ids)]
        t = time.perf_counter()
        model = make_model()
        fc = model.fit(train, static_df).predict(
            spec.horizon, known_future(test, spec.known_covariates)
        )
        seconds.append(time.perf_counter() - t)
        ps, overall = evaluate(fc, test, train, quantiles=quantiles)
        per_window.append(overall)
        per_series.append(ps.assign(window=i, **{CUTOFF: cut}))
        forecasts.append(
            fc.merge(test[[C.UNIQUE_ID, C.DS, C.Y]], on=[C.UNIQUE_ID, C.DS], how="left").assign(
                **{CUTOFF: cut}
            )
        )
        log.info(
            "[window %d/%d] cutoff %s: %s (%.1f s)",
            i + 1,
            len(cuts),
            cut.date(),
            ", ".join(f"{k} {v:.4f}" for k, v in overall.items()),
            seconds[-1],
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
