"""Features are the interface: once built, every downstream step runs without the transactions."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from pipelines import build_features, ingest, plan_inventory, train_forecast, train_recsys, tune
from src.features import columns as C
from tests.helpers import SYNTHETIC, compose, run_module, tmp_paths

pytestmark = pytest.mark.integration
GRAN = ["granularity.horizon=21", "granularity.backtest_windows=1", "granularity.top_n=15"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("interface")
    paths = tmp_paths(tmp)
    ingest.run(compose("ingest", [*SYNTHETIC, *paths]))
    build_features.run(compose("build_features", [f"paths.tables={tmp}/tables"]))
    (tmp / "tables" / "transactions.parquet").unlink()
    return tmp, paths


def test_downstream_steps_run_on_features_alone(built):
    tmp, paths = built
    fc = train_forecast.run(compose("train_forecast", [*paths, *GRAN, "forecast.train=[tsb]"]))
    assert fc["decision"]["champion_version"]
    rec = train_recsys.run(compose("train_recsys", [*paths, "recsys.train=[popularity]"]))
    assert pd.read_parquet(rec["recommendations_path"])[C.CUSTOMER_ID].nunique() > 50
    study = tune.run(
        compose("tune", [*paths, *GRAN, "task=forecast", "model=tsb", "tune.n_trials=1"])
    )
    assert len(study.trials) == 1
    plan = plan_inventory.run(
        compose(
            "plan_inventory",
            [*paths, *GRAN, "policy.draws=100", "policy.simulation.window_days=21"],
        )
    )
    assert len(plan["suggestions"]) == 15 and plan["simulation"] is not None
    env = {**os.environ, "BENTOML_HOME": str(tmp / "bento"), "BENTOML_DO_NOT_TRACK": "True"}
    out = run_module(
        "pipelines.build_services", [*paths, *GRAN, f"serving.bentoml_home={tmp}/bento"], env=env
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert not (tmp / "tables" / "transactions.parquet").exists()


def test_a_feature_set_never_built_stops_with_what_to_run(built):
    tmp, paths = built
    out = run_module(
        "pipelines.train_forecast",
        [*paths, "granularity=sku_location_weekly", "granularity.level=category_location"],
    )
    assert out.returncode == 2
    err = out.stderr + out.stdout
    assert "demand_category_location_W" in err and "pipelines.build_features" in err
    assert "Traceback" not in err
