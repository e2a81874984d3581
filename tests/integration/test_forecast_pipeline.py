"""train -> backtest -> MLflow -> register -> promote, on tiny synthetic data, real SQLite store."""

from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from mlflow import MlflowClient

from pipelines import ingest, train_forecast
from pipelines import promote as promote_step
from src.features import columns as C
from src.forecast.metrics import M5_QUANTILES, quantile_column
from src.tracking import CHALLENGER, CHAMPION, PromotionRule, promote
from tests.helpers import REPO

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("forecast")
    paths = [f"paths.output={tmp}/tables", f"paths.mlruns={tmp}/mlruns", f"paths.logs={tmp}/logs"]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        ingest.run(
            compose("ingest", ["data=synthetic", "data.n_people=300", "data.days=150", *paths])
        )
        cfg = compose(
            "train_forecast",
            [
                *paths,
                "forecast.train=[seasonal_naive,croston_sba,lightgbm]",
                "forecast.models.lightgbm.num_boost_round=40",
                "granularity.horizon=7",
                "granularity.backtest_step=7",
                "granularity.top_n=20",
                "granularity.lags=[1,7,14]",
                "granularity.rolling=[7,28]",
            ],
        )
        result = train_forecast.run(cfg)
    return result, cfg, tmp


def test_every_model_is_a_tracked_run(trained):
    result, cfg, _ = trained
    client = MlflowClient()
    exp = mlflow.get_experiment_by_name("forecast")
    runs = client.search_runs([exp.experiment_id])
    assert sorted(r.data.tags["model"] for r in runs) == [
        "croston_sba",
        "lightgbm",
        "seasonal_naive",
    ]
    for r in runs:
        m = r.data.metrics
        assert {
            "val/wrmsse",
            "val/w0/wrmsse",
            "val/w1/wrmsse",
            "val/wspl",
            "val/coverage_95",
            "val/bias",
        } <= set(m)
        assert r.data.tags["data_fingerprint"] != "unknown" and r.data.tags["git_commit"]
        assert r.data.params["granularity.level"] == "sku"
        files = {a.path for a in client.list_artifacts(r.info.run_id)}
        assert {"config.json", "per_series_metrics.json", "plots", "backtest"} <= files
        # the model itself is an MLflow 3 logged model, registered from this run
        assert client.search_model_versions(f"run_id='{r.info.run_id}'")
        assert [a.path for a in client.list_artifacts(r.info.run_id, "plots")] == [
            "plots/forecast_vs_actual.png"
        ]


def test_champion_is_the_best_by_the_rule(trained):
    result, cfg, _ = trained
    client = MlflowClient()
    name = cfg.granularity.registered_model
    versions = client.search_model_versions(f"name='{name}'")
    assert len(versions) == 3
    scores = {v.version: client.get_run(v.run_id).data.metrics["val/wrmsse"] for v in versions}
    champion = client.get_model_version_by_alias(name, CHAMPION)
    assert scores[champion.version] == min(scores.values())
    challenger = client.get_model_version_by_alias(name, CHALLENGER)
    assert challenger.version != champion.version
    decision = json.loads(champion.tags["promotion"])
    assert decision["metric"] == "val/wrmsse" and decision["promoted"]


def test_champion_forecast_is_written_with_quantiles(trained):
    result, cfg, _ = trained
    fc = pd.read_parquet(result["forecast_path"])
    assert fc[C.UNIQUE_ID].nunique() == 20 and fc.groupby(C.UNIQUE_ID).size().eq(7).all()
    assert {quantile_column(q) for q in M5_QUANTILES} <= set(fc.columns)
    loaded = mlflow.pyfunc.load_model(f"models:/{cfg.granularity.registered_model}@{CHAMPION}")
    part = loaded.predict(pd.DataFrame({C.UNIQUE_ID: [fc[C.UNIQUE_ID].iat[0]], "h": [3]}))
    assert len(part) == 3


def test_promotion_never_replaces_the_champion_with_a_worse_model(trained):
    result, cfg, _ = trained
    client = MlflowClient()
    name = cfg.granularity.registered_model
    before = client.get_model_version_by_alias(name, CHAMPION).version
    # a strict rule: even the best must beat the champion by 50 %
    decision = promote(
        name, PromotionRule(metric="val/wrmsse", higher_is_better=False, min_improvement=0.5)
    )
    assert decision["champion_version"] == before
    # ranking by a metric where higher is better picks another version, but not by enough
    decision = promote(
        name, PromotionRule(metric="val/coverage_95", higher_is_better=True, min_improvement=10.0)
    )
    assert decision["champion_version"] == before and not decision["promoted"]


def test_promote_step_reapplies_a_stricter_rule_without_retraining(trained):
    _, cfg, tmp = trained
    client = MlflowClient()
    name = cfg.granularity.registered_model
    before = client.get_model_version_by_alias(name, CHAMPION).version
    n_versions = len(client.search_model_versions(f"name='{name}'"))
    overrides = [
        f"paths.mlruns={tmp}/mlruns",
        f"paths.logs={tmp}/logs",
        "task=forecast",
        "forecast.promotion.min_improvement=0.9",
    ]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        decision = promote_step.run(compose("promote", overrides))
    assert decision["champion_version"] == before
    assert len(client.search_model_versions(f"name='{name}'")) == n_versions  # nothing retrained
