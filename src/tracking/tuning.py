"""Optuna studies that resume from SQLite and log every trial as a nested MLflow run."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import mlflow
import optuna

log = logging.getLogger(__name__)

PRUNERS = {
    "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
    "none": lambda: optuna.pruners.NopPruner(),
}


def open_study(
    name: str, storage: str, direction: str, seed: int | None, pruner: str = "median"
) -> optuna.Study:
    """Create the study or load it if it exists (so an interrupted study resumes)."""
    if storage.startswith("sqlite:///"):
        Path(storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return optuna.create_study(
        study_name=name,
        storage=storage,
        direction=direction,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=PRUNERS[pruner](),
        load_if_exists=True,
    )


def run_study(
    study: optuna.Study,
    evaluate: Callable[[optuna.Trial], float],
    n_trials: int,
    timeout: float | None = None,
    tags: dict[str, str] | None = None,
) -> optuna.Study:
    """Run ``n_trials`` more trials under one parent MLflow run; each trial is a nested run.

    ``evaluate(trial)`` returns the objective; it may call ``trial.report`` and raise
    ``optuna.TrialPruned``.
    """

    def objective(trial: optuna.Trial) -> float:
        with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
            mlflow.set_tags(
                {
                    "optuna_study": study.study_name,
                    "optuna_trial": str(trial.number),
                    **(tags or {}),
                }
            )
            try:
                value = evaluate(trial)
            except optuna.TrialPruned:
                mlflow.set_tag("optuna_state", "pruned")
                raise
            finally:  # pruned or not, the trial's parameters are on its run
                mlflow.log_params(trial.params)
            mlflow.set_tag("optuna_state", "complete")
            return value

    done_before = len(study.trials)
    with mlflow.start_run(run_name=f"study-{study.study_name}"):
        mlflow.set_tags({"optuna_study": study.study_name, **(tags or {})})
        study.optimize(objective, n_trials=n_trials, timeout=timeout, gc_after_trial=True)
        complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if complete:
            mlflow.log_params({f"best.{k}": v for k, v in study.best_params.items()})
            mlflow.log_metric("best_value", study.best_value)
        mlflow.log_metrics(
            {
                "trials_total": len(study.trials),
                "trials_this_session": len(study.trials) - done_before,
                "trials_pruned": sum(
                    t.state == optuna.trial.TrialState.PRUNED for t in study.trials
                ),
            }
        )
    return study
