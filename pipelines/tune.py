"""Optuna tuning of one model, every trial a nested MLflow run; studies resume from SQLite.

python -m pipelines.tune task=forecast model=lightgbm tune.n_trials=30
python -m pipelines.tune task=recsys model=als
The objective, its direction, the pruner and the search spaces come from the task registry
(conf/tasks/<task>.yaml); `tune.metric`, `tune.direction`, `tune.pruner` override them.
"""

from pipelines.entry import entry_point
from src.features.sets import open_store
from src.forecast.pipeline import tuning_target as forecast_target
from src.recsys.pipeline import tuning_target as recsys_target
from src.tracking import configure
from src.tracking.tasks import select
from src.tracking.tuning import study_settings, tune

TARGETS = {"forecast": forecast_target, "recsys": recsys_target}  # what a study can tune


def study(config: dict):
    spec = select(config["tasks"], config["task"], need_registry=True)
    model = config["model"]
    spec.space(model)  # an unknown model stops here, before any data is read
    paths, tracking = config["paths"], config["tracking"]
    store = open_store(config["features"], paths["features"], paths["tables"])
    task, make_with = TARGETS[spec.name](config, store, spec, model)
    configure(tracking["uri"], spec.experiment, tracking["artifact_root"])
    result = tune(task, model, make_with, study_settings(config, spec.name))
    done = [t for t in result.trials if t.state.name == "COMPLETE"]
    print(f"\nstudy {result.study_name}: {len(result.trials)} trials ({len(done)} complete)")
    if done:
        print(f"best = {result.best_value:.4f} with {result.best_params}")
    return result


run, main = entry_point("tune", study, backend=True)

if __name__ == "__main__":
    main()
