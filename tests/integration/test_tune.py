"""Optuna tuning: nested MLflow runs, intermediate values for pruning, resumable SQLite study."""

from __future__ import annotations

import mlflow
import optuna
import pytest
from mlflow import MlflowClient

from pipelines import ingest, tune
from tests.helpers import compose

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    out = tmp_path_factory.mktemp("tune") / "tables"
    data = ["data=synthetic", "data.n_people=300", "data.days=120", f"paths.output={out}"]
    ingest.run(compose("ingest", data))
    return out


def own_store(tables, tmp_path) -> list[str]:
    """Shared tables and features, a store of runs and studies of the test's own."""
    return [
        f"paths.output={tables}",
        f"paths.mlruns={tmp_path}/mlruns",
        f"paths.logs={tmp_path}/logs",
    ]


def test_study_resumes_and_logs_nested_trials(tables, tmp_path):
    paths = own_store(tables, tmp_path)
    small = ["granularity.horizon=7", "granularity.backtest_step=7", "granularity.top_n=10"]
    first = ["task=forecast", "model=croston_sba", "tune.n_trials=3"]
    n_first = len(tune.run(compose("tune", [*paths, *small, *first])).trials)
    again = tune.run(
        compose("tune", [*paths, *small, "task=forecast", "model=croston_sba", "tune.n_trials=2"])
    )
    assert n_first == 3 and len(again.trials) == 5  # the second call resumed the study
    storage = f"sqlite:///{tmp_path}/mlruns/optuna.db"
    loaded = optuna.load_study(study_name="forecast-croston_sba-forecast_sku_D", storage=storage)
    assert len(loaded.trials) == 5
    assert all(t.intermediate_values for t in loaded.trials)  # each window reported a value
    client = MlflowClient()
    exp = mlflow.get_experiment_by_name("forecast")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.info.run_name.startswith("study-")]
    trials = [r for r in runs if r.info.run_name.startswith("trial-")]
    assert len(parents) == 2 and len(trials) == 5
    parent_ids = {p.info.run_id for p in parents}
    assert all(t.data.tags["mlflow.parentRunId"] in parent_ids for t in trials)
    assert all(
        "val/wrmsse" in t.data.metrics for t in trials if t.data.tags["optuna_state"] == "complete"
    )
    assert {"variant", "alpha", "beta"} <= set(trials[0].data.params)


def test_parallel_trials_share_one_study_on_a_dask_cluster(tables, tmp_path):
    """tune.n_jobs trials at once (one per Dask worker by default), each a nested run of the one
    study whose partitioned fits run on the cluster."""
    from src.compute import DaskBackend, use

    paths = own_store(tables, tmp_path)
    small = ["granularity.horizon=7", "granularity.backtest_step=7", "granularity.top_n=10"]
    backend = DaskBackend(n_workers=2, memory_limit="2GB", dashboard_address=None, progress=False)
    try:
        with use(backend):
            study = tune.run(
                compose("tune", [*paths, *small, "task=forecast", "model=tsb", "tune.n_trials=4"])
            )
    finally:
        backend.close()
    assert len(study.trials) == 4
    runs = MlflowClient().search_runs([mlflow.get_experiment_by_name("forecast").experiment_id])
    (parent,) = [r for r in runs if r.info.run_name.startswith("study-")]
    trials = [r for r in runs if r.info.run_name.startswith("trial-")]
    assert len(trials) == 4
    assert all(t.data.tags["mlflow.parentRunId"] == parent.info.run_id for t in trials)
    # two trials overlapped in time: they ran in parallel
    spans = sorted((t.info.start_time, t.info.end_time) for t in trials)
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False))


def test_recsys_study_runs_nested_trials(tables, tmp_path):
    paths = own_store(tables, tmp_path)
    study = tune.run(compose("tune", [*paths, "task=recsys", "model=ease", "tune.n_trials=3"]))
    assert len(study.trials) == 3 and study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert "lambda_" in study.best_params and 0 <= study.best_value <= 1
    runs = MlflowClient().search_runs([mlflow.get_experiment_by_name("recsys").experiment_id])
    assert sum(r.info.run_name.startswith("trial-") for r in runs) == 3


def test_unknown_task_or_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match="tasks with registered models"):
        tune.run(compose("tune", ["task=policy"]))
    with pytest.raises(KeyError, match="no search space for 'nope'"):
        tune.run(compose("tune", ["task=forecast", "model=nope", f"paths.root={tmp_path}"]))


def test_direction_and_pruner_come_from_the_task_registry(tables, tmp_path):
    """Recommender tuning obeys tune.pruner / tune.direction as forecast tuning does."""
    overrides = [
        "task=recsys",
        "model=item_knn",
        "tune.n_trials=1",
        "tune.metric=val/all/coverage_at_20",
        "tune.direction=minimize",
        "tune.pruner=median",
    ]
    study = tune.run(compose("tune", [*own_store(tables, tmp_path), *overrides]))
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    assert isinstance(study.pruner, optuna.pruners.MedianPruner)
    assert 0 <= study.best_value <= 1


def test_until_keeps_tuning_on_history_only(tables, tmp_path):
    """granularity.until: every period after the date is gone before the series are chosen, so a
    study (or a backtest) chooses on history and a later window stays untouched."""
    import pandas as pd
    from omegaconf import OmegaConf

    from src.features import columns as C
    from src.features.sets import open_store
    from src.forecast.pipeline import demand

    paths = own_store(tables, tmp_path)
    cfg = compose("tune", [*paths, "granularity.top_n=10"])
    store = open_store(
        OmegaConf.to_container(cfg.features, resolve=True), cfg.paths.features, cfg.paths.tables
    )
    gran = OmegaConf.to_container(cfg.granularity, resolve=True)
    full, _, fp_full = demand(store, cfg.features, gran)
    until = full[C.DS].max() - pd.Timedelta(days=30)
    cut, static, fp_cut = demand(store, cfg.features, {**gran, "until": str(until.date())})
    assert cut[C.DS].max() == until and full[C.DS].max() > until
    assert set(static[C.UNIQUE_ID]) == set(cut[C.UNIQUE_ID]) and cut[C.UNIQUE_ID].nunique() == 10
    assert fp_cut != fp_full and fp_cut.endswith(f"@until={until.date()}")
    with pytest.raises(ValueError, match="not a date"):
        demand(store, cfg.features, {**gran, "until": "soon"})
    with pytest.raises(ValueError, match="no demand"):
        demand(store, cfg.features, {**gran, "until": "1990-01-01"})


def test_a_study_on_history_is_named_for_its_cut(tables, tmp_path):
    """The same command with and without granularity.until opens two studies, never one mixed."""
    paths = own_store(tables, tmp_path)
    small = ["granularity.horizon=7", "granularity.backtest_step=7", "granularity.top_n=10"]
    base = ["task=forecast", "model=croston_sba", "tune.n_trials=1"]
    whole = tune.run(compose("tune", [*paths, *small, *base]))
    cut = tune.run(compose("tune", [*paths, *small, *base, "granularity.until=2023-04-01"]))
    assert whole.study_name == "forecast-croston_sba-forecast_sku_D"
    assert cut.study_name == "forecast-croston_sba-forecast_sku_D-until=2023-04-01"
    assert len(whole.trials) == 1 and len(cut.trials) == 1
