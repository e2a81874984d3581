"""One train -> evaluate -> register -> promote skeleton, for every task with registered models.

A task (forecasting, recommendations) is an object with two methods — what differs between tasks:

* ``evaluate(name, make, on_step=None) -> Evaluation``: fit fresh models from ``make`` on the
  training part and score them (backtest windows, a temporal holdout); ``on_step(i, metrics)`` is
  called after each window so tuning can prune;
* ``package(name, make, workdir) -> Packaged``: refit on all data and wrap the result as an
  MLflow pyfunc with its artifacts;

plus ``spec`` (its :class:`~src.tracking.tasks.TaskSpec`), ``data_fingerprint`` and ``tags``.
Everything else is here, once: one MLflow run per model with the resolved config, commit and
fingerprint; metrics, the per-unit evidence table, plots and tables; the registered version;
the promotion by the task's rule; the leaderboard.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import mlflow
import pandas as pd

from src.tracking.leaderboard import training_board
from src.tracking.promotion import PromotionRule, promote
from src.tracking.runs import log_context
from src.tracking.tasks import TaskSpec

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """What scoring one model produced."""

    metrics: dict[str, float]  # namespaced keys: val/…, time/…
    units: pd.DataFrame  # per-unit results, logged as the task's evidence artifact
    note: str  # the run's description in the MLflow UI
    figures: dict[str, Any] = field(default_factory=dict)  # artifact path -> matplotlib figure
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # artifact path -> frame


@dataclass
class Packaged:
    """A model refitted on all data, ready to log as an MLflow pyfunc."""

    python_model: Any
    artifacts: dict[str, str]
    signature: Any
    input_example: pd.DataFrame
    pip_requirements: list[str]
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)  # choices the final fit made (tracked)


class ModelTask(Protocol):
    spec: TaskSpec
    data_fingerprint: str

    @property
    def tags(self) -> Mapping[str, str]: ...

    def evaluate(
        self, name: str, make: Callable, on_step: Callable[[int, dict], None] | None = None
    ) -> Evaluation: ...

    def package(self, name: str, make: Callable, workdir: Path) -> Packaged: ...


def log_evaluation(ev: Evaluation, spec: TaskSpec) -> None:
    mlflow.log_metrics(ev.metrics)
    mlflow.log_table(ev.units, artifact_file=spec.evidence.artifact)
    for path, fig in ev.figures.items():
        mlflow.log_figure(fig, path)
    with tempfile.TemporaryDirectory() as tmp:
        for path, frame in ev.tables.items():
            local = Path(tmp) / path
            local.parent.mkdir(parents=True, exist_ok=True)
            frame.to_parquet(local, index=False)
        if ev.tables:
            mlflow.log_artifacts(tmp)


def run_candidate(task: ModelTask, name: str, make: Callable, config: Mapping) -> dict:
    """Evaluate, log and register one model; returns its run id and metrics."""
    spec = task.spec
    with mlflow.start_run(run_name=name) as run:
        log_context(
            {"model_name": name, **config},
            task.data_fingerprint,
            {"task": spec.name, "model": name, **task.tags},
        )
        t0 = time.perf_counter()
        ev = task.evaluate(name, make)
        mlflow.set_tag("mlflow.note.content", ev.note)
        log_evaluation(ev, spec)
        with tempfile.TemporaryDirectory() as tmp:
            pkg = task.package(name, make, Path(tmp))
            mlflow.log_metrics(pkg.metrics)
            mlflow.set_tags(pkg.tags)
            mlflow.pyfunc.log_model(
                name="model",
                python_model=pkg.python_model,
                artifacts=pkg.artifacts,
                signature=pkg.signature,
                input_example=pkg.input_example,  # MLflow serves it once at logging time
                pip_requirements=pkg.pip_requirements,
                registered_model_name=spec.registered_model,
                tags={"model": name},
            )
        total = {"time/total_s": time.perf_counter() - t0}
        mlflow.log_metrics(total)
        return {"run_id": run.info.run_id, "model": name, **ev.metrics, **pkg.metrics, **total}


def train_register_promote(
    task: ModelTask, candidates: Mapping[str, Callable], config: Mapping
) -> tuple[pd.DataFrame, dict]:
    """Every candidate as a tracked, registered run; then the task's promotion rule.

    Returns the leaderboard of this session's runs and the promotion decision."""
    spec = task.spec
    if not spec.registered_model:
        raise ValueError(f"task {spec.name!r} has no registered model to train")
    results = []
    for i, (name, make) in enumerate(candidates.items(), 1):
        log.info("[%s model %d/%d] %s", spec.name, i, len(candidates), name)
        results.append(run_candidate(task, name, make, config))
    decision = promote(spec.registered_model, PromotionRule.for_task(spec))
    return training_board(results, spec), decision
