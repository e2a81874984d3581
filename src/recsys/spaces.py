"""Optuna search spaces of the recommenders: plain ``space(trial) -> dict`` functions.

The task registry (``conf/tasks/recsys.yaml``, ``tune.spaces``) names the space of each model.
"""

from __future__ import annotations

import optuna


def als(trial: optuna.Trial) -> dict:
    return {
        "factors": trial.suggest_categorical("factors", [32, 64, 128]),
        "regularization": trial.suggest_float("regularization", 1e-3, 1.0, log=True),
        "iterations": trial.suggest_int("iterations", 5, 30),
        "alpha": trial.suggest_float("alpha", 1.0, 40.0, log=True),
    }


def bpr(trial: optuna.Trial) -> dict:
    return {
        "factors": trial.suggest_categorical("factors", [32, 64, 128]),
        "learning_rate": trial.suggest_float("learning_rate", 1e-3, 0.1, log=True),
        "regularization": trial.suggest_float("regularization", 1e-4, 0.1, log=True),
        "iterations": trial.suggest_int("iterations", 50, 300, step=50),
    }


def ease(trial: optuna.Trial) -> dict:
    return {"lambda_": trial.suggest_float("lambda_", 10.0, 5000.0, log=True)}


def item_knn(trial: optuna.Trial) -> dict:
    return {"k_neighbours": trial.suggest_int("k_neighbours", 10, 500, log=True)}


def buy_again(trial: optuna.Trial) -> dict:
    return {"half_life_days": trial.suggest_float("half_life_days", 7.0, 365.0, log=True)}


def hybrid(trial: optuna.Trial) -> dict:
    return {
        "n_candidates": trial.suggest_categorical("n_candidates", [30, 50, 100]),
        "num_leaves": trial.suggest_int("num_leaves", 15, 127, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
        "num_boost_round": trial.suggest_int("num_boost_round", 100, 500, step=50),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 10, 200, log=True),
        "label_days": trial.suggest_categorical("label_days", [14, 28, 42]),
        "label_windows": trial.suggest_int("label_windows", 1, 4),
    }


def tifu_knn(trial: optuna.Trial) -> dict:
    return {
        "group_size": trial.suggest_int("group_size", 2, 20),
        "within_decay": trial.suggest_float("within_decay", 0.5, 1.0),
        "group_decay": trial.suggest_float("group_decay", 0.3, 1.0),
        "k_neighbours": trial.suggest_int("k_neighbours", 10, 500, log=True),
        "alpha": trial.suggest_float("alpha", 0.3, 1.0),
    }
