"""The task registry as objects: what a task is to tracking, promotion, tuning and review.

The facts live once, in ``conf/tasks/<name>.yaml`` (composed into ``tasks.<name>`` of every entry
config that needs them): the MLflow experiment, the registered model, the primary metric and its
direction, the per-unit evidence the paired bootstrap runs on, the leaderboard columns, how the
runs to compare are found, and the tuning defaults with the search space of each model (a dotted
path to a plain ``space(trial) -> dict`` function). Nothing in ``src.tracking`` or ``src.review``
knows a task by name; they read a :class:`TaskSpec`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from hydra.utils import get_method


@dataclass(frozen=True)
class Evidence:
    """A run's per-unit table: ``metric`` per ``key`` in the logged ``artifact``."""

    artifact: str
    key: str
    metric: str
    higher_is_better: bool
    require_positive: str | None = None  # units where this column is not > 0 are left out

    @property
    def unit(self) -> str:
        """What one unit is, for people: ``unique_id`` -> series, ``customer_id`` -> customer."""
        return {"unique_id": "series", "customer_id": "customer"}.get(self.key, self.key)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    experiment: str
    metric: str
    higher_is_better: bool
    evidence: Evidence | None  # None: a measurement task (campaigns), nothing compared per unit
    leaderboard: tuple[str, ...]
    registered_model: str | None = None
    # review: the compared runs are nested (policy simulations under a plan run), and the
    # reference is the run of this model name when the task has no registry champion
    nested_runs: bool = False
    baseline: str | None = None
    tune_pruner: str = "none"
    spaces: Mapping[str, str] = field(default_factory=dict)
    # how strict promotion is (min_improvement, significance_level, n_boot, guards); the task
    # config points at the task's own settings (``${forecast.promotion}``) so users tune them there
    promotion: Mapping | None = None

    @classmethod
    def from_config(cls, cfg: Mapping) -> TaskSpec:
        c = dict(cfg)
        tune = dict(c.pop("tune", None) or {})
        return cls(
            **{
                **c,
                "evidence": Evidence(**dict(c["evidence"])) if c.get("evidence") else None,
                "leaderboard": tuple(c["leaderboard"]),
                "tune_pruner": tune.get("pruner", "none"),
                "spaces": dict(tune.get("spaces") or {}),
            }
        )

    @property
    def direction(self) -> str:
        return "maximize" if self.higher_is_better else "minimize"

    def space(self, model: str) -> Callable:
        """The Optuna search space of ``model`` (a function of the trial)."""
        if model not in self.spaces:
            raise KeyError(
                f"task {self.name!r} has no search space for {model!r}; spaces exist for "
                f"{sorted(self.spaces)} (tasks.{self.name}.tune.spaces)"
            )
        return get_method(self.spaces[model])


def task_specs(tasks: Mapping[str, Mapping]) -> dict[str, TaskSpec]:
    """``tasks`` config (name -> mapping) as specs."""
    return {name: TaskSpec.from_config(c) for name, c in tasks.items()}


def select(tasks: Mapping[str, Mapping], name: str, need_registry: bool = False) -> TaskSpec:
    """The spec of task ``name``, refusing unknown names (and tasks without registered models
    where one is needed) with the list of what exists."""
    specs = task_specs(tasks)
    usable = [n for n, s in specs.items() if s.registered_model or not need_registry]
    if name not in usable:
        what = "tasks with registered models" if need_registry else "tasks"
        raise ValueError(f"task must be one of the {what} {sorted(usable)}, got {name!r}")
    return specs[name]
