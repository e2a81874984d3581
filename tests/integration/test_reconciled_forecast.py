"""A reconciled champion end to end (issue 13): trained, tracked, its levels written and coherent,
its backtest scoring the protection-period demand the policy orders from."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from mlflow import MlflowClient

from pipelines import ingest, train_forecast
from src.features import columns as C
from src.forecast.hierarchy import BOTTOM, LEVEL_COL, METHODS
from tests.helpers import REPO

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reconciled")
    paths = [f"paths.output={tmp}/tables", f"paths.mlruns={tmp}/mlruns", f"paths.logs={tmp}/logs"]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        ingest.run(
            compose("ingest", ["data=synthetic", "data.n_people=300", "data.days=150", *paths])
        )
        cfg = compose(
            "train_forecast",
            [
                *paths,
                "forecast.train=[hierarchical]",
                "granularity.horizon=14",
                "granularity.backtest_step=14",
                "granularity.top_n=30",
            ],
        )
        result = train_forecast.run(cfg)
    return result, cfg


def test_the_reconciled_champion_writes_every_level_and_they_add_up(trained):
    result, cfg = trained
    fc = pd.read_parquet(result["forecast_path"])
    levels = pd.read_parquet(result["levels_path"])
    assert set(levels[LEVEL_COL]) == {"total", "category", BOTTOM}
    bottom = levels[levels[LEVEL_COL] == BOTTOM]
    # the SKU forecast the policy reads is the bottom of the hierarchy
    pd.testing.assert_frame_equal(
        bottom.drop(columns=LEVEL_COL).sort_values([C.UNIQUE_ID, C.DS]).reset_index(drop=True),
        fc.sort_values([C.UNIQUE_ID, C.DS]).reset_index(drop=True),
    )
    total = levels[levels[LEVEL_COL] == "total"].set_index(C.DS)["y_hat"]
    cats = levels[levels[LEVEL_COL] == "category"].groupby(C.DS)["y_hat"].sum()
    assert np.allclose(total, bottom.groupby(C.DS)["y_hat"].sum().reindex(total.index), atol=1e-6)
    assert np.allclose(total, cats.reindex(total.index), atol=1e-6)
    assert (levels["y_hat"] >= 0).all()


def test_the_backtest_scores_the_protection_period_and_the_choice_is_tracked(trained):
    _, cfg = trained
    client = MlflowClient()
    exp = mlflow.get_experiment_by_name("forecast")
    (run,) = client.search_runs([exp.experiment_id])
    m = run.data.metrics
    assert {"val/wpspl_14", "val/coverage90_14", "val/wrmsse"} <= set(m)
    assert np.isfinite(m["val/wpspl_14"]) and 0 <= m["val/coverage90_14"] <= 1
    # the reconciler and quantile style the final fit chose, and what each scored
    assert run.data.tags["reconciler"] in set(METHODS)
    assert run.data.tags["reconciled_quantiles"] in {"normality", "base"}
    chosen = f"reconcile/{run.data.tags['reconciler']}.{run.data.tags['reconciled_quantiles']}"
    assert f"{chosen}/wrmsse" in m and f"{chosen}/wspl" in m
