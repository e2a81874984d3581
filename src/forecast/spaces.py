"""Optuna search spaces of the forecasters: plain ``space(trial) -> dict`` functions.

Each returns constructor arguments that override the model's configured ones; the task registry
(``conf/tasks/forecast.yaml``, ``tune.spaces``) names the space of each model.
"""

from __future__ import annotations

import optuna


def lightgbm(trial: optuna.Trial) -> dict:
    return {
        "objective": trial.suggest_categorical("objective", ["tweedie", "poisson"]),
        "tweedie_variance_power": trial.suggest_float("tweedie_variance_power", 1.05, 1.6),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 15, 255, log=True),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 10, 300, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
        "num_boost_round": trial.suggest_int("num_boost_round", 100, 800, step=50),
        "train_window": trial.suggest_categorical("train_window", [90, 120, 180, 270, 365, 730]),
        "encodings": trial.suggest_categorical("encodings", [False, True]),
    }


def lightgbm_direct(trial: optuna.Trial) -> dict:
    """The direct model's training windows (how many origins, how far apart, the level window)
    and tree settings — chosen on the backtest's validation windows only."""
    return {
        "objective": trial.suggest_categorical("objective", ["l2", "tweedie"]),
        "origins": trial.suggest_int("origins", 6, 40, log=True),
        "scale_window": trial.suggest_categorical("scale_window", [7, 14, 28, 56]),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 15, 255, log=True),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 20, 500, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
        "num_boost_round": trial.suggest_int("num_boost_round", 100, 800, step=50),
    }


def lightgbm_sum(trial: optuna.Trial) -> dict:
    """The period-sum model's training origins, level window and trees; tune it by the policy's
    quantity: ``tune.metric=val/wpspl_14`` (with ``granularity.protection_periods`` set)."""
    return {
        "origins": trial.suggest_int("origins", 10, 80, log=True),
        "scale_window": trial.suggest_categorical("scale_window", [14, 28, 56]),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 15, 127, log=True),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 20, 400, log=True),
        "num_boost_round": trial.suggest_int("num_boost_round", 100, 600, step=50),
        "quantile_boost_round": trial.suggest_int("quantile_boost_round", 100, 400, step=50),
    }


def exp_smoothing(trial: optuna.Trial) -> dict:
    return {"profile_weeks": trial.suggest_int("profile_weeks", 4, 26)}


def croston(trial: optuna.Trial) -> dict:
    return {
        "variant": trial.suggest_categorical("variant", ["classic", "sba", "tsb"]),
        "alpha": trial.suggest_float("alpha", 0.02, 0.5, log=True),
        "beta": trial.suggest_float("beta", 0.02, 0.5, log=True),
    }


def neural(trial: optuna.Trial) -> dict:
    return {
        "hidden_size": trial.suggest_categorical("hidden_size", [8, 16, 32, 64]),
        "dropout": trial.suggest_float("dropout", 0.0, 0.3),
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True),
        "epochs": trial.suggest_int("epochs", 5, 30),  # a ceiling under early stopping
        "max_samples_per_ts": trial.suggest_categorical("max_samples_per_ts", [20, 40, 80]),
    }
