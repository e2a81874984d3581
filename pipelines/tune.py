"""Optuna tuning of one model, every trial a nested MLflow run; studies resume from SQLite.

python -m pipelines.tune task=forecast model=lightgbm tune.n_trials=30
python -m pipelines.tune task=recsys model=als
The objective, its direction, the pruner and the search spaces come from the task registry
(conf/tasks/<task>.yaml); `tune.metric`, `tune.direction`, `tune.pruner` override them.
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig, OmegaConf

from pipelines.entry import entry_point
from src.compute import with_backend
from src.features.sets import open_store
from src.forecast.pipeline import forecast_task
from src.forecast.pipeline import model_factories as forecasters
from src.recsys.pipeline import model_factories as recommenders
from src.recsys.pipeline import recsys_task
from src.tracking import configure
from src.tracking.candidates import with_params
from src.tracking.tasks import select
from src.tracking.tuning import tune

log = logging.getLogger(__name__)


def study_settings(config: dict, task: str) -> dict:
    """The tune settings, with a forecast study's data cut in its name: a study tuned on demand up
    to ``granularity.until`` is a different study from one on all of it, so the two never resume
    (and mix trials of) each other."""
    settings = dict(config["tune"])
    until = config["granularity"].get("until") if task == "forecast" else None
    if until and f"until={until}" not in str(settings["study_name"]):
        settings["study_name"] = f"{settings['study_name']}-until={until}"
    return settings


@with_backend
def run(cfg: DictConfig):
    config = OmegaConf.to_container(cfg, resolve=True)
    spec = select(config["tasks"], cfg.task, need_registry=True)
    spec.space(cfg.model)  # an unknown model stops here, before any data is read
    store = open_store(config["features"], cfg.paths.features, cfg.paths.tables)
    model = cfg.model
    if spec.name == "forecast":
        fcfg = config["forecast"]
        task = forecast_task(
            store, config["features"], config["granularity"], spec, fcfg["quantiles"]
        )

        def make_with(params):
            entries = {**fcfg, "models": with_params(fcfg["models"], model, params)}
            return forecasters(entries, [model], task.freq, task.quantiles)[model]

    else:
        rcfg = config["recsys"]
        task = recsys_task(store, config["features"], rcfg, spec)

        def make_with(params):
            entries = {**rcfg, "models": with_params(rcfg["models"], model, params)}
            return recommenders(entries, [model])[model]

    tracking = config["tracking"]
    configure(tracking["uri"], spec.experiment, tracking["artifact_root"])
    study = tune(task, model, make_with, study_settings(config, spec.name))
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    print(f"\nstudy {study.study_name}: {len(study.trials)} trials ({len(done)} complete)")
    if done:
        print(f"best = {study.best_value:.4f} with {study.best_params}")
    return study


main = entry_point("tune", run)


if __name__ == "__main__":
    main()
