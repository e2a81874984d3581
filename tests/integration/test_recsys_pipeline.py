"""train -> evaluate -> MLflow -> register -> promote -> recommendations, on synthetic data."""

from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from mlflow import MlflowClient

from pipelines import ingest, train_recsys
from src.features import columns as C
from src.recsys.base import COLD_START
from src.tracking import CHAMPION
from tests.helpers import REPO

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("recsys")
    paths = [f"paths.output={tmp}/tables", f"paths.mlruns={tmp}/mlruns", f"paths.logs={tmp}/logs"]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        ingest.run(
            compose("ingest", ["data=synthetic", "data.n_people=600", "data.days=200", *paths])
        )
        cfg = compose(
            "train_recsys", [*paths, "recsys.train=[popularity,buy_again,ease]", "recsys.k=10"]
        )
        result = train_recsys.run(cfg)
    return result, cfg


def test_every_model_is_a_tracked_run_with_namespaced_metrics(trained):
    client = MlflowClient()
    exp = mlflow.get_experiment_by_name("recsys")
    runs = client.search_runs([exp.experiment_id])
    assert sorted(r.data.tags["model"] for r in runs) == ["buy_again", "ease", "popularity"]
    for r in runs:
        m = r.data.metrics
        assert {
            "val/all/recall_at_20",
            "val/all/ndcg_at_20",
            "val/all/map_at_20",
            "val/new/recall_at_20",
            "val/cold/recall_at_20",
            "val/all/coverage_at_20",
            "val/all/novelty_at_20",
        } <= set(m)
        assert any(k.startswith("val/all/segment/") for k in m)
        assert r.data.tags["data_fingerprint"] != "unknown"
        plots = [a.path for a in client.list_artifacts(r.info.run_id, "plots")]
        assert plots == ["plots/recall_vs_k_and_segments.png"]


def test_champion_has_the_best_recall_and_serves(trained):
    result, cfg = trained
    client = MlflowClient()
    name = cfg.tasks.recsys.registered_model
    versions = client.search_model_versions(f"name='{name}'")
    score = {
        v.version: client.get_run(v.run_id).data.metrics["val/all/recall_at_20"] for v in versions
    }
    champion = client.get_model_version_by_alias(name, CHAMPION)
    assert score[champion.version] == max(score.values())
    assert json.loads(champion.tags["promotion"])["metric"] == "val/all/recall_at_20"
    served = mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION}")
    out = served.predict(pd.DataFrame({C.CUSTOMER_ID: ["nobody-knows-me"], "k": [5]}))
    assert len(out) == 5 and (out["reason"] == COLD_START).all()


def test_recommendations_for_every_known_customer(trained):
    result, _ = trained
    recs = pd.read_parquet(result["recommendations_path"])
    assert recs.groupby(C.CUSTOMER_ID).size().eq(10).all()
    assert list(recs.columns) == [C.CUSTOMER_ID, "rank", C.SKU, "score", "reason"]
    assert recs[C.CUSTOMER_ID].nunique() > 100
