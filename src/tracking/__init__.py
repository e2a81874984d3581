"""Experiment machinery every task shares, knowing no task by name.

* :mod:`~src.tracking.runs` — the MLflow store, what a run says about itself, per-unit tables;
* :mod:`~src.tracking.tasks` — the task registry (``conf/tasks/*.yaml``) as :class:`TaskSpec`;
* :mod:`~src.tracking.candidates` — models built from named config entries (``_target_``);
* :mod:`~src.tracking.experiment` — the one train -> evaluate -> register -> promote skeleton;
* :mod:`~src.tracking.promotion` — registry aliases by an explicit rule, with bootstrap evidence;
* :mod:`~src.tracking.bootstrap` — the paired bootstrap over units;
* :mod:`~src.tracking.leaderboard` — the one leaderboard;
* :mod:`~src.tracking.tuning` — Optuna studies, every trial a nested run.
"""

from src.tracking.promotion import CHALLENGER, CHAMPION, PromotionRule, promote
from src.tracking.runs import configure, log_context
from src.tracking.tasks import TaskSpec

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "PromotionRule",
    "TaskSpec",
    "configure",
    "log_context",
    "promote",
]
