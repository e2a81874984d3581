"""Demand forecasting as a task of the tracked skeleton (:mod:`src.tracking.experiment`).

:class:`ForecastTask` holds what every forecaster is trained and judged on — the demand panel
from the feature store, its statics, the backtest protocol, the quantiles — and answers the two
questions the skeleton asks:

* ``evaluate``: a rolling-origin backtest (``val/w<i>/<metric>`` per window, ``val/<metric>``
  overall), the per-series metrics (the promotion evidence), a forecast-vs-actual plot of the
  highest-weight series, and the last window's forecasts with the actuals around it (so a
  reviewer can plot any series of any run without refitting);
* ``package``: the model refitted on all data, its next-horizon forecast, as a pyfunc that
  answers from that stored forecast.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.models import ModelSignature, infer_signature
from mlflow.types import ColSpec, Schema

from src import outputs
from src.features import columns as C
from src.features.classes import series_revenue
from src.features.panel import future_calendar
from src.forecast import plots
from src.forecast.backtest import BacktestSpec, backtest, known_future
from src.forecast.base import Forecaster
from src.forecast.metrics import Y_HAT
from src.forecast.pyfunc import ForecasterModel, pip_requirements
from src.tracking.experiment import Evaluation, Packaged
from src.tracking.tasks import TaskSpec


@dataclass(frozen=True)
class ForecastTask:
    spec: TaskSpec
    panel: pd.DataFrame
    static: pd.DataFrame | None
    freq: str
    backtest: BacktestSpec
    quantiles: tuple[float, ...]
    data_fingerprint: str
    holiday_country: str | None = None
    future: pd.DataFrame | None = None  # known covariates after the panel's end (else: calendar)
    plot_series: int = 6

    @property
    def tags(self) -> dict[str, str]:
        return {"granularity": str(self.spec.registered_model)}

    @property
    def n_series(self) -> int:
        return int(self.panel[C.UNIQUE_ID].nunique())

    def evaluate(
        self,
        name: str,
        make: Callable[[], Forecaster],
        on_step: Callable[[int, dict], None] | None = None,
    ) -> Evaluation:
        b = self.backtest
        result = backtest(
            make,
            self.panel,
            self.static,
            b,
            self.freq,
            self.quantiles,
            on_window=(lambda i, w: on_step(i, {f"val/{k}": v for k, v in w.items()}))
            if on_step
            else None,
        )
        metrics = {
            f"val/w{i}/{k}": v
            for i, window in enumerate(result.per_window)
            for k, v in window.items()
        }
        metrics.update({f"val/{k}": v for k, v in result.overall.items()})
        metrics["time/backtest_fit_predict_s"] = float(np.sum(result.fit_seconds))
        last_cut = result.forecasts["cutoff"].max()
        last_fc = result.forecasts[result.forecasts["cutoff"] == last_cut]
        fig = plots.forecast_vs_actual(
            self.panel,
            last_fc,
            sample_series(result.per_series, self.plot_series),
            title=f"{name}: last backtest window (cutoff {last_cut.date()})",
        )
        plots.plt.close(fig)
        return Evaluation(
            metrics=metrics,
            units=result.per_series.assign(cutoff=result.per_series["cutoff"].astype(str)),
            note=(
                f"{name}: rolling-origin backtest ({b.windows} windows x {b.horizon} {self.freq}) "
                f"on {self.n_series} series, then refit on all data."
            ),
            figures={"plots/forecast_vs_actual.png": fig},
            tables=last_window(self.panel, last_fc, last_cut),
        )

    def package(self, name: str, make: Callable[[], Forecaster], workdir: Path) -> Packaged:
        t = time.perf_counter()
        model = make()
        model.fit(self.panel, self.static if model.uses_static else None)
        future = (
            known_future(self.next_horizon_covariates(), self.backtest.known_covariates)
            if model.uses_future_covariates
            else None
        )
        artifacts = {}
        if hasattr(model, "predict_levels"):  # reconciled: every level, the bottom is the forecast
            levels = model.predict_levels(self.backtest.horizon, future)
            forecast = model.bottom(levels)
            levels_path = workdir / "levels.parquet"
            levels.to_parquet(levels_path, index=False)
            artifacts["levels"] = str(levels_path)
        else:
            forecast = model.predict(self.backtest.horizon, future)
        seconds = time.perf_counter() - t
        model_dir = model.save(workdir / "forecaster")
        fc_path = workdir / "forecast.parquet"
        forecast.to_parquet(fc_path, index=False)
        example = pd.DataFrame(
            {C.UNIQUE_ID: [str(forecast[C.UNIQUE_ID].iat[0])], "h": [int(self.backtest.horizon)]}
        )
        return Packaged(
            python_model=ForecasterModel(),
            artifacts={"forecaster": str(model_dir), "forecast": str(fc_path), **artifacts},
            signature=ModelSignature(
                inputs=Schema(
                    [ColSpec("string", C.UNIQUE_ID, required=False), ColSpec("long", "h")]
                ),
                outputs=infer_signature(example, forecast.head()).outputs,
            ),
            input_example=example,
            pip_requirements=pip_requirements(),
            metrics={"time/final_fit_predict_s": seconds, **choice_metrics(model)},
            tags=choice_tags(model),
        )

    def next_horizon_covariates(self) -> pd.DataFrame:
        """Known covariates for the horizon after the panel: given ones, else the calendar."""
        if self.future is not None:
            return self.future
        cal = future_calendar(
            self.panel[C.DS].max(), self.backtest.horizon, self.freq, self.holiday_country
        )
        ids = self.panel[C.UNIQUE_ID].unique()
        return pd.DataFrame({C.UNIQUE_ID: np.repeat(ids, len(cal))}).join(
            pd.concat([cal] * len(ids), ignore_index=True)
        )


def choice_metrics(model: Forecaster) -> dict[str, float]:
    """What a model chose on its own validation window: a reconciled model's score per
    reconciler x quantile style, a selecting ensemble's weight per candidate."""
    scores = getattr(model, "scores_", None) or {}
    out = {
        f"reconcile/{key.replace('/', '.')}/{metric}": value
        for key, s in scores.items()
        for metric, value in s.items()
    }
    if getattr(model, "selected_", None):
        out |= {f"ensemble/weight/{name}": w for name, w in model.selected_.items()}
        out["ensemble/selection_wrmsse"] = model.validation_wrmsse_
    return out


def choice_tags(model: Forecaster) -> dict[str, str]:
    if getattr(model, "selected_", None):
        return {"ensemble_members": ", ".join(
            f"{n} {w:.2f}" for n, w in zip(model.names, model.weights, strict=True))}  # fmt: skip
    if not hasattr(model, "method_"):
        return {}
    tags = {"reconciler": model.method_, "reconciled_quantiles": model.interval_}
    rejected = getattr(model, "rejected_", None) or {}
    if rejected:  # why a better-scoring reconciler was not taken (worse at the bottom)
        tags["reconciler_rejected"] = "; ".join(f"{m}: {why}" for m, why in rejected.items())[:5000]
    return tags


def backtest_spec(granularity: Mapping) -> BacktestSpec:
    return BacktestSpec(
        horizon=int(granularity["horizon"]),
        windows=int(granularity["backtest_windows"]),
        step=int(granularity["backtest_step"]),
        known_covariates=tuple(granularity["known_covariates"]),
        protection_periods=granularity.get("protection_periods"),
    )


def select_series(panel: pd.DataFrame, top_n: int | None, days: int = 365) -> pd.DataFrame:
    """The ``top_n`` series by revenue (units x price, or units) over the last ``days``."""
    if not top_n:
        return panel
    top = series_revenue(panel, days).nlargest(top_n).index
    return panel[panel[C.UNIQUE_ID].isin(top)].reset_index(drop=True)


def sample_series(per_series: pd.DataFrame, n: int) -> list[str]:
    """Highest-weight series first, so the plots show what matters for WRMSSE."""
    last = per_series[per_series["window"] == per_series["window"].max()]
    return last.sort_values("weight", ascending=False)[C.UNIQUE_ID].head(n).tolist()


def last_window(
    panel: pd.DataFrame, forecasts: pd.DataFrame, cutoff: pd.Timestamp, lookback: int = 56
) -> dict[str, pd.DataFrame]:
    """The last backtest window's forecasts with their actuals, and the history before it
    (``pipelines.compare compare.series=[…]`` plots any series of any run from these)."""
    keep = [c for c in (C.UNIQUE_ID, C.DS, Y_HAT, "q0.025", "q0.975") if c in forecasts]
    start = cutoff - pd.Timedelta(days=lookback)
    hist = panel.loc[panel[C.DS] > start, [C.UNIQUE_ID, C.DS, C.Y]]
    window = forecasts[keep].merge(hist, on=[C.UNIQUE_ID, C.DS], how="left")
    return {outputs.artifact_path("backtest_window"): window,
            outputs.artifact_path("backtest_actuals"): hist}  # fmt: skip
