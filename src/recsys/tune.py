"""Tune one recommender with Optuna: each trial fits on purchases before the holdout cutoff and
is scored on the window after it (the metric named in ``tune.metric``, maximised)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import mlflow
import optuna

from src.features.tables import fingerprint
from src.recsys.evaluation import evaluate
from src.recsys.factory import build
from src.recsys.pipeline import evaluation_setup
from src.recsys.rules import allowed_items
from src.recsys.spaces import SPACES
from src.tracking import log_context
from src.tuning import open_study, run_study


def tune_recommender(
    model: str, tables_dir: str | Path, recsys_cfg: Mapping, tune_cfg: Mapping
) -> optuna.Study:
    if model not in SPACES:
        raise KeyError(f"no search space for '{model}'; spaces exist for {sorted(SPACES)}")
    tables, _, h, segments = evaluation_setup(tables_dir, recsys_cfg)
    data_fp = fingerprint(sorted(Path(tables_dir).glob("*.parquet")))
    base = dict(recsys_cfg["models"][model])
    metric = tune_cfg["metric"]

    def evaluate_trial(trial: optuna.Trial) -> float:
        params = SPACES[model](trial)
        models = {**recsys_cfg["models"], model: {**base, **params}}
        log_context({"model_name": model}, data_fp, {"task": "recsys", "model": model})
        fitted = build(model, models).fit(h.train, segments)
        metrics, _ = evaluate(
            fitted, h, recsys_cfg["ks"], allowed_items(fitted.items_, tables.products)
        )
        mlflow.log_metrics({f"val/{k}": v for k, v in metrics.items()})
        return metrics[metric]

    study = open_study(
        tune_cfg["study_name"], tune_cfg["storage"], "maximize", tune_cfg.get("seed"), "none"
    )
    return run_study(
        study,
        evaluate_trial,
        int(tune_cfg["n_trials"]),
        tune_cfg.get("timeout_s"),
        tags={"task": "recsys", "model": model},
    )
