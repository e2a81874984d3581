"""Train, backtest, track and register forecasters; then promote by a configured rule.

For each model, one MLflow run holds: the resolved config, git commit and data fingerprint;
backtest metrics per window (``val/w0/wrmsse`` …) and overall (``val/wrmsse`` …); the per-series
metrics table; forecast-vs-actual plots for a sample of series; fit times; and the model refitted
on all data, logged as a pyfunc with its next-horizon forecast and registered under one name per
granularity. Promotion then sets ``champion`` / ``challenger`` on that registered model.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature, infer_signature
from mlflow.types import ColSpec, Schema

from src.features import columns as C
from src.features.panel import future_calendar
from src.forecast import plots
from src.forecast.backtest import BacktestSpec, backtest, known_future
from src.forecast.base import Forecaster
from src.forecast.metrics import M5_QUANTILES, Y_HAT
from src.forecast.pyfunc import ForecasterModel, pip_requirements
from src.tracking import PromotionRule, log_context, promote

log = logging.getLogger(__name__)


@dataclass
class ForecastTask:
    panel: pd.DataFrame
    static: pd.DataFrame | None
    freq: str
    spec: BacktestSpec
    registered_name: str
    quantiles: tuple[float, ...] = M5_QUANTILES
    future: pd.DataFrame | None = None  # known covariates after the panel's end
    data_fingerprint: str | None = None
    config: Mapping = field(default_factory=dict)
    holiday_country: str | None = "GB"
    plot_series: int = 6


def select_series(panel: pd.DataFrame, top_n: int | None, days: int = 365) -> pd.DataFrame:
    """The ``top_n`` series by revenue (units x price, or units) over the last ``days``."""
    if not top_n:
        return panel
    recent = panel[panel[C.DS] > panel[C.DS].max() - pd.Timedelta(days=days)]
    value = recent[C.Y] * recent.get(C.PRICE, 1.0)
    top = value.groupby(recent[C.UNIQUE_ID]).sum().nlargest(top_n).index
    return panel[panel[C.UNIQUE_ID].isin(top)].reset_index(drop=True)


def next_horizon_covariates(task: ForecastTask) -> pd.DataFrame:
    """Known covariates for the horizon after the panel: given ones, else the calendar."""
    if task.future is not None:
        return task.future
    cal = future_calendar(
        task.panel[C.DS].max(), task.spec.horizon, task.freq, task.holiday_country
    )
    ids = task.panel[C.UNIQUE_ID].unique()
    return pd.DataFrame({C.UNIQUE_ID: np.repeat(ids, len(cal))}).join(
        pd.concat([cal] * len(ids), ignore_index=True)
    )


def sample_series(per_series: pd.DataFrame, n: int) -> list[str]:
    """Highest-weight series first, so the plots show what matters for WRMSSE."""
    last = per_series[per_series["window"] == per_series["window"].max()]
    return last.sort_values("weight", ascending=False)[C.UNIQUE_ID].head(n).tolist()


def run_model(name: str, make_model: Callable[[], Forecaster], task: ForecastTask) -> dict:
    """Backtest, log and register one model; returns its run id and overall metrics."""
    with mlflow.start_run(run_name=name) as run:
        log_context(
            {"model_name": name, **task.config},
            task.data_fingerprint,
            {"task": "forecast", "model": name, "granularity": task.registered_name},
        )
        mlflow.set_tag(
            "mlflow.note.content",
            f"{name}: rolling-origin backtest ({task.spec.windows} windows x {task.spec.horizon} "
            f"{task.freq}) on {task.panel[C.UNIQUE_ID].nunique()} series, then refit on all data.",
        )
        t0 = time.perf_counter()
        result = backtest(make_model, task.panel, task.static, task.spec, task.freq, task.quantiles)
        for i, window in enumerate(result.per_window):
            mlflow.log_metrics({f"val/w{i}/{k}": v for k, v in window.items()})
        mlflow.log_metrics({f"val/{k}": v for k, v in result.overall.items()})
        mlflow.log_metric("time/backtest_fit_predict_s", float(np.sum(result.fit_seconds)))
        mlflow.log_table(
            result.per_series.assign(cutoff=result.per_series["cutoff"].astype(str)),
            artifact_file="per_series_metrics.json",
        )
        last_cut = result.forecasts["cutoff"].max()
        last_fc = result.forecasts[result.forecasts["cutoff"] == last_cut]
        fig = plots.forecast_vs_actual(
            task.panel,
            last_fc,
            sample_series(result.per_series, task.plot_series),
            title=f"{name}: last backtest window (cutoff {last_cut.date()})",
        )
        mlflow.log_figure(fig, "plots/forecast_vs_actual.png")
        plots.plt.close(fig)
        log_last_window(task.panel, last_fc, last_cut)
        # refit on everything and forecast the next horizon
        t = time.perf_counter()
        model = make_model().fit(task.panel, task.static)
        future = known_future(next_horizon_covariates(task), task.spec.known_covariates)
        forecast = model.predict(task.spec.horizon, future)
        mlflow.log_metric("time/final_fit_predict_s", time.perf_counter() - t)
        example = pd.DataFrame(
            {C.UNIQUE_ID: [str(forecast[C.UNIQUE_ID].iat[0])], "h": [int(task.spec.horizon)]}
        )
        with tempfile.TemporaryDirectory() as tmp:
            model_dir = model.save(Path(tmp) / "forecaster")
            fc_path = Path(tmp) / "forecast.parquet"
            forecast.to_parquet(fc_path, index=False)
            mlflow.pyfunc.log_model(
                name="model",
                python_model=ForecasterModel(),
                signature=ModelSignature(
                    inputs=Schema(
                        [ColSpec("string", C.UNIQUE_ID, required=False), ColSpec("long", "h")]
                    ),
                    outputs=infer_signature(example, forecast.head()).outputs,
                ),
                input_example=example,  # MLflow serves it once at logging time: a smoke test
                artifacts={"forecaster": str(model_dir), "forecast": str(fc_path)},
                pip_requirements=pip_requirements(),
                registered_model_name=task.registered_name,
                tags={"model": name},
            )
            mlflow.log_artifact(str(fc_path), "forecast")
        mlflow.log_metric("time/total_s", time.perf_counter() - t0)
        return {
            "run_id": run.info.run_id,
            "model": name,
            **{f"val/{k}": v for k, v in result.overall.items()},
        }


def train_all(
    models: Mapping[str, Callable[[], Forecaster]], task: ForecastTask, rule: PromotionRule
) -> tuple[pd.DataFrame, dict]:
    results = []
    for i, (name, factory) in enumerate(models.items(), 1):
        log.info("[model %d/%d] %s", i, len(models), name)
        results.append(run_model(name, factory, task))
    decision = promote(task.registered_name, rule)
    board = pd.DataFrame(results).sort_values(rule.metric, ascending=not rule.higher_is_better)
    return board, decision


def log_last_window(
    panel: pd.DataFrame, forecasts: pd.DataFrame, cutoff: pd.Timestamp, lookback: int = 56
) -> None:
    """The last backtest window's forecasts and the actuals around it, so a reviewer can plot any
    series of any run (``pipelines.compare compare.series=[…]``) without refitting."""
    keep = [c for c in (C.UNIQUE_ID, C.DS, Y_HAT, "q0.025", "q0.975") if c in forecasts]
    start = cutoff - pd.Timedelta(days=lookback)
    hist = panel.loc[panel[C.DS] > start, [C.UNIQUE_ID, C.DS, C.Y]]
    window = forecasts[keep].merge(hist, on=[C.UNIQUE_ID, C.DS], how="left")  # + the actuals
    with tempfile.TemporaryDirectory() as tmp:
        window.to_parquet(Path(tmp) / "last_window.parquet", index=False)
        hist.to_parquet(Path(tmp) / "actuals.parquet", index=False)
        mlflow.log_artifacts(tmp, "backtest")
