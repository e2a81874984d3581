"""The serving bundles without a server: assembled from features, asked like the endpoints ask."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from src.features import columns as C
from src.features.adapters import synthetic
from src.features.ingest import IngestOptions, write_ingest
from src.features.sets import interaction_set
from src.features.store import FeatureStore
from src.recsys.base import COLD_START
from src.recsys.models import BuyAgain
from src.serve.errors import ClientError, NotFound
from src.serve.package import RecsysSources, planner_bundle, recsys_bundle
from src.serve.planner import PlannerBundle
from src.serve.recsys import MAX_BATCH, RecsysBundle

FEATURES = {
    "holiday_country": None,
    "interactions": {"value": "count"},
    "rfm": {"n_bins": 5, "new_days": 30, "active_days": 90, "at_risk_days": 180},
}
META = {"model_name": "m", "model_version": "7"}


@pytest.fixture(scope="module")
def recs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bundle")
    tables = tmp / "tables"
    write_ingest(
        synthetic.load(seed=5, n_people=200, n_skus=30, days=90, options=IngestOptions()), tables
    )
    store = FeatureStore(tmp / "features", tables)
    events = store.get(interaction_set(FEATURES)).read("interactions")
    model_dir = tmp / "model"
    BuyAgain().fit(events).save(model_dir / "artifacts" / "recommender")
    dst = tmp / "bundle"
    dst.mkdir()
    extra = recsys_bundle(dst, model_dir, RecsysSources.from_store(store, FEATURES, tables), 90, 20)
    (dst / "bundle.json").write_text(json.dumps({**META, **extra}))
    return RecsysBundle(dst), events, pd.read_parquet(tables / "inventory.parquet")


def test_known_customer_is_answered_from_the_precomputed_list(recs):
    bundle, events, _ = recs
    customer = events[C.CUSTOMER_ID].iloc[0]
    out = bundle.recommend(customer, k=5)
    assert [i["rank"] for i in out["items"]] == [1, 2, 3, 4, 5]
    assert out["model"] == {"name": "m", "version": "7"}
    live = bundle.model.recommend([customer], 5, allowed=bundle.merch)
    assert [i["sku"] for i in out["items"]] == list(live[C.SKU])  # lookup == the model


def test_rules_and_cold_start(recs):
    bundle, events, inventory = recs
    customer = events[C.CUSTOMER_ID].iloc[0]
    first = bundle.recommend(customer, k=3)["items"][0]["sku"]
    assert first not in {
        i["sku"] for i in bundle.recommend(customer, k=3, exclude_skus=[first])["items"]
    }
    latest = inventory[inventory[C.AS_OF] == inventory[C.AS_OF].max()]
    in_stock = set(latest.loc[latest[C.ON_HAND] > 0, C.SKU])
    got = bundle.recommend(customer, k=10, in_stock_only=True)["items"]
    assert got and {i["sku"] for i in got} <= in_stock
    channel = sorted(bundle.channels)[0]
    sold = set(np.asarray(bundle.model.items_)[bundle.channels[channel]])
    assert {i["sku"] for i in bundle.recommend(customer, k=5, channel=channel)["items"]} <= sold
    cold = bundle.recommend("never-seen", k=4)["items"]
    assert len(cold) == 4 and {i["reason"] for i in cold} == {COLD_START}


@pytest.mark.parametrize(
    ("kwargs", "status", "fragment"),
    [
        ({"k": 0}, 422, "k must be"),
        ({"channel": "fax"}, 422, "unknown channel"),
        ({"exclude_skus": ["NOPE"]}, 422, "unknown SKU"),
        ({"in_stock_only": True, "location_id": "moon"}, 422, "unknown location_id"),
    ],
)
def test_bad_requests_are_client_errors(recs, kwargs, status, fragment):
    bundle, events, _ = recs
    with pytest.raises(ClientError, match=fragment) as err:
        bundle.recommend(events[C.CUSTOMER_ID].iloc[0], **kwargs)
    assert err.value.status == status
    with pytest.raises(ClientError) as big:
        bundle.recommend_many(["c"] * (MAX_BATCH + 1))
    assert big.value.status == 413
    with pytest.raises(NotFound):
        bundle.similar_items("NOPE")


@pytest.fixture
def planner(tmp_path):
    plans, model_dir, dst = tmp_path / "plans", tmp_path / "model" / "artifacts", tmp_path / "b"
    for d in (plans, model_dir, dst):
        d.mkdir(parents=True)
    pd.DataFrame(
        {
            C.LOCATION_ID: ["ALL"] * 3,
            C.SKU: ["A", "B", "C"],
            "abc_class": ["A", "B", "C"],
            "order_qty": [10.0, 0.0, 3.0],
            "order_value": [100.0, 0.0, 30.0],
            "as_of": pd.Timestamp("2024-03-31"),
        }
    ).to_parquet(plans / "suggestions.parquet")
    days = pd.date_range("2024-04-01", periods=14)
    pd.DataFrame(
        {
            C.UNIQUE_ID: np.repeat(["A", "B", "C"], 14),
            C.DS: np.tile(days, 3),
            "y_hat": 1.0,
            "q0.5": 1.0,
            "q0.975": np.nan,
        }
    ).to_parquet(model_dir / "forecast.parquet")
    paths = {"plans": str(plans), "routing": str(tmp_path / "routing")}
    extra = planner_bundle(dst, tmp_path / "model", paths, "sku", "ALL")
    (dst / "bundle.json").write_text(json.dumps({**META, **extra}))
    return PlannerBundle(dst)


def test_planner_filters_and_forecasts(planner):
    out = planner.reorder_suggestions(only_orders=True)
    assert [r["sku"] for r in out["suggestions"]] == ["A", "C"]  # largest order value first
    assert out["as_of"] == "2024-03-31" and out["forecast_model"]["version"] == "7"
    assert planner.reorder_suggestions(abc_class=["B"])["total"] == 1
    fc = planner.forecast_for("A", horizon=5)
    assert fc["horizon"] == 5 and fc["points"][0]["ds"] == "2024-04-01"
    assert fc["points"][0]["quantiles"]["q0.975"] is None  # NaN is never sent as JSON
    with pytest.raises(NotFound):
        planner.reorder_suggestions(skus=["ZZZ"])
    with pytest.raises(ClientError, match="horizon"):
        planner.forecast_for("A", horizon=15)
    with pytest.raises(NotFound, match="whole network"):
        planner.forecast_for("A", location_id="store-1")


def test_a_champion_whose_artifacts_are_missing_is_named_with_its_version(tmp_path):
    """Issue 17 item 9 (the fast half): ChampionMissing names the model, version and artifact."""
    import mlflow
    import pytest
    from mlflow import MlflowClient

    from src.serve.package import ChampionMissing, _download

    uri = f"sqlite:///{tmp_path}/m.db"
    mlflow.set_tracking_uri(uri)
    exp = mlflow.create_experiment("t", artifact_location=(tmp_path / "a").as_uri())
    with mlflow.start_run(experiment_id=exp) as run:
        mlflow.log_text("x", "model/MLmodel")
    client = MlflowClient(uri)
    client.create_registered_model("m")
    v = client.create_model_version("m", f"runs:/{run.info.run_id}/model", run.info.run_id)
    try:
        with pytest.raises(ChampionMissing, match=r"'m' version 1 .*'artifacts/recommender'"):
            _download("m", v, tmp_path / "dl", "artifacts/recommender")
        import shutil

        shutil.rmtree(tmp_path / "a")  # the artifact store itself is gone
        with pytest.raises(
            ChampionMissing, match=r"'m' version 1 .*(cannot be read|is missing from file:)"
        ):
            _download("m", v, tmp_path / "dl2", "artifacts/recommender")
    finally:
        mlflow.set_tracking_uri("")


def test_a_batch_may_name_a_customer_twice(recs):
    """schemathesis found a 500: customer_ids ["0", "0"] (unknown, so asked of the model twice)."""
    bundle, events, _ = recs
    known = events[C.CUSTOMER_ID].iloc[0]
    out = bundle.recommend_many(["0", "0", known, known], k=3)
    assert [r["customer_id"] for r in out] == ["0", "0", known, known]
    assert out[0]["items"] == out[1]["items"] and len(out[0]["items"]) == 3
    assert out[2]["items"] == out[3]["items"] == bundle.recommend(known, k=3)["items"]
