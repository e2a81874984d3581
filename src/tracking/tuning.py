"""Optuna studies that resume from SQLite and log every trial as a nested MLflow run.

:func:`tune` works for any task of the skeleton (:mod:`src.tracking.experiment`): a trial builds
the model with the parameters its search space suggests, the task evaluates it exactly as in
training, and the objective is the task's primary metric (or ``settings["metric"]``). Direction,
pruner and search space come from the task registry unless the settings override them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path

import mlflow
import optuna

from src.compute import current
from src.tracking.runs import log_context

log = logging.getLogger(__name__)

PRUNERS = {
    "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
    "none": lambda: optuna.pruners.NopPruner(),
}


def tune(
    task, model: str, make_with: Callable[[dict], Callable], settings: Mapping
) -> optuna.Study:
    """Run ``settings["n_trials"]`` trials of ``model`` on ``task``.

    ``make_with(params)`` returns a factory of the model with ``params`` overriding its configured
    arguments. ``settings``: ``n_trials``, ``timeout_s``, ``seed``, ``storage``, ``study_name`` and
    the optional overrides ``metric``, ``direction``, ``pruner`` (null: the task's).
    """
    spec = task.spec
    space = spec.space(model)
    metric = settings.get("metric") or spec.metric
    direction = settings.get("direction") or (spec.direction if metric == spec.metric else None)
    if direction not in ("minimize", "maximize"):
        raise ValueError(
            f"tune.metric={metric!r} is not the task's primary metric: set tune.direction "
            "to minimize or maximize"
        )

    def evaluate(trial: optuna.Trial) -> float:
        params = space(trial)
        log_context(
            {"model_name": model, "trial_params": params},
            task.data_fingerprint,
            {"task": spec.name, "model": model, **task.tags},
        )

        def report(i: int, window: dict[str, float]) -> None:
            if metric in window:
                trial.report(window[metric], step=i)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after step {i}")

        ev = task.evaluate(model, make_with(params), on_step=report)
        mlflow.log_metrics(ev.metrics)
        if metric not in ev.metrics:
            raise KeyError(f"tune.metric {metric!r} is not among the evaluation's metrics")
        return ev.metrics[metric]

    study = open_study(
        settings["study_name"],
        settings["storage"],
        direction,
        settings.get("seed"),
        settings.get("pruner") or spec.tune_pruner,
    )
    return run_study(
        study,
        evaluate,
        int(settings["n_trials"]),
        settings.get("timeout_s"),
        tags={"task": spec.name, "model": model, **task.tags},
        n_jobs=int(settings.get("n_jobs") or current().workers),
    )


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
        pruner=_pruner(pruner),
        load_if_exists=True,
    )


def _pruner(name: str) -> optuna.pruners.BasePruner:
    if name not in PRUNERS:
        raise ValueError(f"tune.pruner must be one of {sorted(PRUNERS)}, got {name!r}")
    return PRUNERS[name]()


def run_study(
    study: optuna.Study,
    evaluate: Callable[[optuna.Trial], float],
    n_trials: int,
    timeout: float | None = None,
    tags: dict[str, str] | None = None,
    n_jobs: int = 1,
) -> optuna.Study:
    """Run ``n_trials`` more trials under one parent MLflow run; each trial is a nested run.

    ``evaluate(trial)`` returns the objective; it may call ``trial.report`` and raise
    ``optuna.TrialPruned``. ``n_jobs`` trials run at once (threads of this process, each handing
    its partitioned work to the backend), all against the one study.
    """
    parent_id: list[str] = []

    def objective(trial: optuna.Trial) -> float:
        with mlflow.start_run(
            run_name=f"trial-{trial.number}", nested=True, parent_run_id=parent_id[0]
        ):
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
    with mlflow.start_run(run_name=f"study-{study.study_name}") as parent:
        parent_id.append(parent.info.run_id)
        mlflow.set_tags({"optuna_study": study.study_name, **(tags or {})})
        study.optimize(
            objective, n_trials=n_trials, timeout=timeout, gc_after_trial=True, n_jobs=n_jobs
        )
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


def study_settings(config: dict, task: str) -> dict:
    """The tune settings, with a forecast study's data cut in its name: a study tuned on demand up
    to ``granularity.until`` is a different study from one on all of it, so the two never resume
    (and mix trials of) each other."""
    settings = dict(config["tune"])
    until = config["granularity"].get("until") if task == "forecast" else None
    if until and f"until={until}" not in str(settings["study_name"]):
        settings["study_name"] = f"{settings['study_name']}-until={until}"
    return settings
