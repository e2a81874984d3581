"""backend=local and backend=dask run the same pipelines to the same outputs, and a worker that
dies mid-run is replaced by Dask without changing them (a real 2-worker LocalCluster)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pandas as pd
import pytest

from src.compute import DaskBackend, LocalBackend, PartitionFailed, use
from src.forecast.partitioned import Partitioned
from tests.helpers import compose, train_tiny_stack

pytestmark = pytest.mark.integration

GRAN = [
    "granularity.horizon=14",
    "granularity.backtest_windows=2",
    "granularity.backtest_step=14",
    "granularity.train_window=120",
    "forecast.partitions=4",
    "forecast.models.lightgbm.num_boost_round=30",
    "forecast.models.tiered.abc={A: 0.5, B: 0.8}",
]
FORECAST = "[exp_smoothing,tsb,tiered]"
RECSYS = "[popularity,buy_again,ease]"
PLAN = ["policy.simulation.window_days=28", "policy.draws=200"]


def cluster_backend(cls=DaskBackend) -> DaskBackend:
    # started the way LightGBM's own Dask tests start theirs (ENVIRONMENT.md)
    return cls(
        n_workers=2,
        threads_per_worker=1,
        memory_limit="3GB",
        dashboard_address=None,
        progress=False,
    )


def outputs(tmp: Path) -> dict[str, pd.DataFrame]:
    tables = tmp / "tables"
    return {
        "forecast": pd.read_parquet(tables / "forecasts" / "forecast_sku_D.parquet"),
        "suggestions": pd.read_parquet(tables / "plans" / "suggestions.parquet"),
        "simulation": pd.read_csv(tables / "plans" / "simulation.csv"),
        "recommendations": pd.read_parquet(tables / "recommendations" / "recommendations.parquet"),
    }


def assert_same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("local")
    with use(LocalBackend(progress=False)):
        train_tiny_stack(tmp, FORECAST, RECSYS, GRAN, PLAN)
    return outputs(tmp)


@pytest.fixture(scope="module")
def cluster():
    backend = cluster_backend()
    yield backend
    backend.close()


def test_dask_gives_identical_forecasts_plans_and_recommendations(local_run, cluster, tmp_path):
    assert len(local_run["forecast"]) and len(local_run["recommendations"])
    with use(cluster):
        train_tiny_stack(tmp_path, FORECAST, RECSYS, GRAN, PLAN)
    assert_same(local_run, outputs(tmp_path))


class KillsAWorker(DaskBackend):
    """Kills one worker process (SIGKILL) as soon as the first step's tasks are submitted."""

    killed: str | None = None

    def submitted(self, futures) -> None:
        if self.killed is None:
            address, pid = sorted(self.client.run(os.getpid).items())[0]
            os.kill(pid, signal.SIGKILL)
            self.killed = address


def test_a_killed_worker_is_replaced_and_the_run_gives_the_same_output(local_run, tmp_path):
    backend = cluster_backend(KillsAWorker)
    try:
        with use(backend):
            train_tiny_stack(tmp_path, FORECAST, RECSYS, GRAN, PLAN)
        backend.client.wait_for_workers(2, timeout=60)
        workers = set(backend.client.scheduler_info()["workers"])
    finally:
        backend.close()
    assert backend.killed is not None and backend.killed not in workers  # the nanny restarted it
    assert_same(local_run, outputs(tmp_path))


def _explodes_on(uid: str):
    from src.forecast.baselines import SeasonalNaive

    class Exploding(SeasonalNaive):
        def _fit(self, panel, static_df):
            if uid in set(panel["unique_id"]):
                raise FloatingPointError("diverged")
            super()._fit(panel, static_df)

    return Exploding


def test_a_failed_partition_names_the_series_it_held():
    panel = pd.DataFrame(
        {
            "unique_id": [f"S{i}" for i in range(12) for _ in range(30)],
            "ds": list(pd.date_range("2024-01-01", periods=30)) * 12,
            "y": 1.0,
        }
    )
    cls = _explodes_on("S7")
    model = Partitioned({"x": cls}, pool="partition", partitions=3)
    with use(LocalBackend(progress=False)), pytest.raises(PartitionFailed) as err:
        model.fit(panel)
    message = str(err.value)
    assert "S7" in message and "FloatingPointError: diverged" in message
    assert "fit seasonal_naive failed on group" in message


def test_backend_config_composes():
    cfg = compose("run", ["backend=dask", "backend.address=tcp://10.0.0.5:8786"])
    assert cfg.backend.name == "dask" and cfg.backend.address == "tcp://10.0.0.5:8786"
    assert compose("run").backend.name == "local"


def test_demand_features_from_sku_partitions_are_built_on_the_workers(cluster, tmp_path):
    """Canonical transactions written as SKU partitions (ingest.partition_rows): the feature
    store builds the panel one partition per Dask task, to what one process builds from the
    whole table."""
    from src.features.adapters import synthetic
    from src.features.ingest import IngestOptions, write_ingest
    from src.features.panel import PanelSpec
    from src.features.sets import DemandSet
    from src.features.store import FeatureStore

    spec = DemandSet(PanelSpec(level="sku_location", freq="D"))
    built = {}
    for name, rows in (("whole", None), ("parts", 1_500)):
        tables = tmp_path / name / "tables"
        opts = IngestOptions(partition_rows=rows)
        write_ingest(synthetic.load(seed=5, n_people=200, n_skus=25, days=90, options=opts), tables)
        with use(cluster if name == "parts" else LocalBackend(progress=False)):
            fs = FeatureStore(tmp_path / name / "features", tables, partitions=3).build(spec)
        built[name] = fs
    assert (tmp_path / "parts" / "tables" / "transactions").is_dir()
    assert len(built["parts"].partitions("panel")) > 2
    for table, keys in (("panel", ["unique_id", "ds"]), ("static", ["unique_id"])):
        pd.testing.assert_frame_equal(
            built["whole"].read(table).sort_values(keys, ignore_index=True),
            built["parts"].read(table).sort_values(keys, ignore_index=True),
        )
