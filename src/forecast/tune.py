"""Tune one forecaster with Optuna: each trial is a rolling-origin backtest of the model with
the trial's parameters; windows report intermediate values so poor trials are pruned early."""

from __future__ import annotations

from collections.abc import Mapping

import mlflow
import optuna

from src.forecast.backtest import backtest
from src.forecast.factory import build
from src.forecast.spaces import SPACES
from src.forecast.train import ForecastTask
from src.tracking import log_context
from src.tuning import open_study, run_study


def tune_forecaster(
    model: str, task: ForecastTask, forecast_cfg: Mapping, tune_cfg: Mapping
) -> optuna.Study:
    if model not in SPACES:
        raise KeyError(f"no search space for '{model}'; spaces exist for {sorted(SPACES)}")
    space = SPACES[model]
    metric = tune_cfg["metric"]
    base = dict(forecast_cfg["models"][model])

    def evaluate(trial: optuna.Trial) -> float:
        params = space(trial)
        models = {**forecast_cfg["models"], model: {**base, **params}}

        def report(i: int, window: dict[str, float]) -> None:
            mlflow.log_metrics({f"val/w{i}/{k}": v for k, v in window.items()})
            trial.report(window[metric], step=i)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after window {i}")

        log_context(
            {"model_name": model, "trial_params": params},
            task.data_fingerprint,
            {"task": "forecast", "model": model},
        )
        result = backtest(
            lambda: build(model, models, task.freq, task.quantiles),
            task.panel,
            task.static,
            task.spec,
            task.freq,
            task.quantiles,
            on_window=report,
        )
        mlflow.log_metrics({f"val/{k}": v for k, v in result.overall.items()})
        return result.overall[metric]

    study = open_study(
        tune_cfg["study_name"],
        tune_cfg["storage"],
        tune_cfg["direction"],
        tune_cfg.get("seed"),
        tune_cfg.get("pruner", "median"),
    )
    return run_study(
        study,
        evaluate,
        int(tune_cfg["n_trials"]),
        tune_cfg.get("timeout_s"),
        tags={"task": "forecast", "model": model, "granularity": task.registered_name},
    )
