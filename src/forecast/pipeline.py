"""The forecasting step without Hydra: feature store -> tracked, registered models -> champion.

``forecast_task`` reads the demand panel of the configured granularity from the feature store
(built there on demand), keeps the ``top_n`` series, and returns the typed task.
``train_forecasts`` runs it through the skeleton (:mod:`src.tracking.experiment`), prints the
leaderboard and writes the champion's next-horizon forecast to
``<output>/<registered_model>.parquet`` (what the policy layer and planners read); a reconciled
champion also writes ``<registered_model>_levels.parquet`` (every level of its hierarchy).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import mlflow
import pandas as pd
from hydra.utils import get_class

from src import outputs
from src.features import columns as C
from src.features.sets import demand_set, open_store
from src.features.store import FeatureStore
from src.forecast.task import ForecastTask, backtest_spec, select_series
from src.tracking import CHAMPION, configure
from src.tracking.candidates import factories, with_params
from src.tracking.experiment import train_register_promote
from src.tracking.leaderboard import format_leaderboard
from src.tracking.tasks import TaskSpec

log = logging.getLogger(__name__)


def demand(
    store: FeatureStore, features: Mapping, granularity: Mapping
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """``(panel, static, fingerprint)`` of the granularity's demand feature set, kept to its
    ``top_n`` series (what forecasting trains on and planning plans).

    ``granularity.until`` (a date, default none) drops every period after it first — so tuning or
    backtesting can choose on history only and leave a later window untouched (the series are
    then chosen on that history too); the fingerprint records it."""
    fs = store.get(demand_set(features, granularity["level"], granularity["freq"]))
    panel = fs.read("panel")
    fingerprint = fs.fingerprint
    until = granularity.get("until")
    if until is not None:
        try:
            cut = pd.Timestamp(until)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"granularity.until={until!r} is not a date") from exc
        panel = panel[panel[C.DS] <= cut].reset_index(drop=True)
        if panel.empty:
            raise ValueError(f"granularity.until={until}: no demand on or before that date")
        fingerprint = f"{fingerprint}@until={cut.date()}"
    panel = select_series(panel, granularity.get("top_n"))
    static = fs.read("static")
    static = static[static[C.UNIQUE_ID].isin(panel[C.UNIQUE_ID].unique())].reset_index(drop=True)
    return panel, static, fingerprint


def forecast_task(
    store: FeatureStore,
    features: Mapping,
    granularity: Mapping,
    spec: TaskSpec,
    quantiles,
) -> ForecastTask:
    panel, static, fp = demand(store, features, granularity)
    return ForecastTask(
        spec=spec,
        panel=panel,
        static=static,
        freq=granularity["freq"],
        backtest=backtest_spec(granularity),
        quantiles=tuple(quantiles),
        data_fingerprint=fp,
        holiday_country=features["holiday_country"],
    )


def forecasts_period_sums(models: Mapping[str, Mapping], name: str) -> bool:
    """Whether the configured model ``name`` forecasts period sums spread over comonotone days
    (its class's ``comonotone``): a policy must then join its days with ``rho = 1``."""
    return bool(getattr(get_class(models[name]["_target_"]), "comonotone", False))


# keys of composite models naming other configured models (they are built from those entries)
COMPOSITE_REFS = ("members", "expensive", "cheap", "base")


def execution_entries(models: Mapping[str, Mapping], partitions: int) -> dict[str, dict]:
    """The configured models as the backend runs them: every base model wrapped in
    :class:`~src.forecast.partitioned.Partitioned` with its ``pool`` (default ``partition``);
    composites (an ensemble's members, a tiered model's candidates) refer to the wrapped ones."""
    out: dict[str, dict] = {}
    for name, entry in models.items():
        entry = dict(entry)
        pool = entry.pop("pool", "partition")
        if any(k in entry for k in COMPOSITE_REFS):
            out[name] = entry
            continue
        out[f"{name}/model"] = entry
        out[name] = {
            "_target_": "src.forecast.partitioned.Partitioned",
            "inner": [f"{name}/model"],
            "pool": pool,
            "partitions": int(partitions),
        }
    return out


def model_factories(forecast_cfg: Mapping, names, freq: str, quantiles) -> dict:
    """``{name: factory}`` of configured forecasters (each gets the task's freq and quantiles),
    each fitted per group of series on the current backend (:mod:`src.compute`)."""
    common = {"freq": freq, "quantiles": tuple(quantiles)}
    entries = execution_entries(forecast_cfg["models"], forecast_cfg.get("partitions", 1))
    return factories(names, entries, common, refs=("inner", *COMPOSITE_REFS))


def train_forecasts(
    task: ForecastTask,
    forecast_cfg: Mapping,
    tracking_cfg: Mapping,
    config: Mapping,
) -> dict:
    spec = task.spec
    configure(tracking_cfg["uri"], spec.experiment, tracking_cfg["artifact_root"])
    models = model_factories(forecast_cfg, forecast_cfg["train"], task.freq, task.quantiles)
    log.info(
        "forecasting %d series (%s), models: %s",
        task.n_series,
        spec.registered_model,
        ", ".join(models),
    )
    board, decision = train_register_promote(task, models, config)
    champion = mlflow.pyfunc.load_model(f"models:/{spec.registered_model}@{CHAMPION}")
    forecast = champion.predict(pd.DataFrame({"h": [task.backtest.horizon]}))
    paths, registered = config["paths"], spec.registered_model
    lineage = {"run_id": champion.metadata.run_id, "features": task.data_fingerprint,
               "model_version": decision["champion_version"]}  # fmt: skip
    path = outputs.write(paths, "forecast", forecast, lineage, registered=registered)
    levels = champion.unwrap_python_model().levels
    levels_path = outputs.path(paths, "forecast_levels", registered=registered)
    if levels is not None:  # reconciled champion: every level, adding up to the SKUs
        outputs.write(paths, "forecast_levels", levels, lineage, registered=registered)
    else:  # a stale file of an earlier reconciled champion would mislead
        outputs.remove(paths, "forecast_levels", registered=registered)
    print(
        format_leaderboard(
            board, f"forecast leaderboard ({spec.registered_model}, by {spec.metric})"
        )
        + f"\n\nchampion: version {decision['champion_version']} ({decision['reason']}); "
        f"challenger: version {decision['challenger_version']}"
        + f"\nchampion forecast written to {path}"
        + (
            f"\nevery level of its hierarchy written to {levels_path}" if levels is not None else ""
        ),
        flush=True,
    )
    return {
        "leaderboard": board,
        "decision": decision,
        "forecast_path": str(path),
        "levels_path": str(levels_path) if levels is not None else None,
    }


def run_train_forecast(config: Mapping) -> dict:
    """`make train-forecast`: the configured forecasters backtested, tracked, registered and
    promoted on the granularity's demand set; the champion's forecast written."""
    store = open_store(config["features"], config["paths"]["features"], config["paths"]["tables"])
    task = forecast_task(store, config["features"], config["granularity"],
                         TaskSpec.from_config(config["tasks"]["forecast"]),
                         config["forecast"]["quantiles"])  # fmt: skip
    return train_forecasts(task, config["forecast"], config["tracking"], config)


def tuning_target(config: Mapping, store: FeatureStore, spec: TaskSpec, model: str):
    """What a study of ``model`` tunes: the forecast task and ``params -> model factory``."""
    fcfg = config["forecast"]
    task = forecast_task(store, config["features"], config["granularity"], spec,
                         fcfg["quantiles"])  # fmt: skip

    def make_with(params):
        entries = {**fcfg, "models": with_params(fcfg["models"], model, params)}
        return model_factories(entries, [model], task.freq, task.quantiles)[model]

    return task, make_with
