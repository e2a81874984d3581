"""Pipelines end to end on tiny data: configs compose, the generic command, ingest -> features."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from pipelines import build_features, ingest, run
from src.features import columns as C
from src.features.tables import read_tables
from tests.conftest import REPO

pytestmark = pytest.mark.integration
CONF = str(REPO / "conf")


def cfg(name: str, overrides: list[str]):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name=name, overrides=overrides)


@pytest.mark.parametrize("name", ["ingest", "build_features", "run"])
@pytest.mark.parametrize("data", ["online_retail", "generic", "synthetic", "m5"])
def test_every_config_composes(name, data):
    overrides = [] if name == "build_features" else [f"data={data}"]
    c = cfg(name, overrides)
    assert c.paths.output
    if name != "build_features":
        assert c.data._target_.startswith("src.features.adapters.")


def unseen_export(tmp_path: Path) -> Path:
    """A brand's export the code has never seen: its own column names, a few bad rows."""
    rows = []
    for i in range(60):
        rows.append(
            {
                "Receipt No": f"R{i // 3:04d}",
                "Shopper": f"{1000 + i % 7}" if i % 5 else "",
                "Article": f"ART-{i % 9}",
                "Sold At": f"2024-03-{1 + i % 28:02d}T{8 + i % 10:02d}:15:00",
                "Pieces": str(1 + i % 4),
                "Line Total": f"{(1 + i % 4) * 2.5:.2f}",
                "Branch": ["north", "south", "online"][i % 3],
            }
        )
    rows[10]["Sold At"] = "yesterday"
    rows[20]["Pieces"] = "0"
    path = tmp_path / "brand_export.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


GENERIC_ARGS = [
    "data.columns.order_id=Receipt No",
    "data.columns.customer_id=Shopper",
    "data.columns.sku=Article",
    "data.columns.ts=Sold At",
    "data.columns.qty=Pieces",
    "data.columns.revenue=Line Total",
    "data.columns.location_id=Branch",
]


def run_module(module: str, args: list[str], cwd: Path = REPO):
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_generic_command_ingests_an_unseen_dataset(tmp_path):
    path = unseen_export(tmp_path)
    out = tmp_path / "canonical"
    proc = run_module(
        "pipelines.ingest",
        [
            "data=generic",
            f"data.path={path}",
            *GENERIC_ARGS,
            f"paths.output={out}",
            f"paths.logs={tmp_path}/logs",
        ],
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "retail-brain ingest summary" in proc.stdout
    for table in C.TABLES:
        assert (out / f"{table}.parquet").exists(), table
    rejects = pd.read_csv(out / "rejects.csv")
    assert sorted(rejects[C.REJECT_RULE]) == ["unparseable_timestamp", "zero_quantity"]
    assert sorted(rejects[C.REJECT_ROW]) == [10, 20]
    tables = read_tables(out)
    assert len(tables.transactions) == 58
    assert set(tables.locations[C.LOCATION_ID]) == {"north", "south", "online"}
    assert tables.transactions[C.UNIT_PRICE].eq(2.5).all()
    report = json.loads((out / "ingest_report.json").read_text())
    assert report["files"][str(path)] == {"rows_in": 60, "rows_kept": 58, "rows_rejected": 2}


def test_bad_mapping_exits_cleanly_and_keeps_what_was_stored(tmp_path):
    path = unseen_export(tmp_path)
    out = tmp_path / "canonical"
    good = run_module(
        "pipelines.ingest",
        [
            "data=generic",
            f"data.path={path}",
            *GENERIC_ARGS,
            f"paths.output={out}",
            f"paths.logs={tmp_path}/logs",
        ],
    )
    assert good.returncode == 0, good.stderr[-3000:]
    before = (out / "transactions.parquet").read_bytes()
    args = [a.replace("=Pieces", "=Quantity") for a in GENERIC_ARGS]
    bad = run_module(
        "pipelines.ingest",
        [
            "data=generic",
            f"data.path={path}",
            *args,
            f"paths.output={out}",
            f"paths.logs={tmp_path}/logs",
        ],
    )
    assert bad.returncode == 2
    err = bad.stderr + bad.stdout
    assert "brand_export.csv" in err and "'Quantity'" in err and "required_column" in err
    assert "Traceback" not in err
    assert (out / "transactions.parquet").read_bytes() == before


def test_ingest_then_features_on_the_uci_sample(tmp_path, uci_sample):
    out = tmp_path / "processed"
    c = cfg(
        "run",
        [
            f"data.root={uci_sample['dir']}",
            f"paths.output={out}",
            f"paths.logs={tmp_path}/logs",
            f"paths.mlruns={tmp_path}/mlruns",  # never the repo's own store
            "policy.simulation.window_days=28",
            "forecast.train=[seasonal_naive]",
            "recsys.train=[popularity,buy_again]",
        ],
    )
    results = run.run(c)
    assert results["ingest"]["summary"]["lines"] > 0
    feats = out / "features"
    for name in (
        "panel_sku_D",
        "static_sku_D",
        "panel_sku_location_W",
        "panel_category_location_MS",
        "interactions",
        "rfm",
    ):
        assert (feats / f"{name}.parquet").exists(), name
    panel = pd.read_parquet(feats / "panel_sku_D.parquet")
    tables = read_tables(out)
    merch = tables.products.loc[tables.products[C.IS_MERCHANDISE], C.SKU]
    sales = tables.transactions[
        (tables.transactions[C.LINE_TYPE] == C.LINE_SALE) & tables.transactions[C.SKU].isin(merch)
    ]
    assert panel[C.Y].sum() == pytest.approx(
        sales[C.QTY].sum()
    )  # every unit sold lands in the panel
    assert (out / "forecasts" / "forecast_sku_D.parquet").exists()
    assert (out / "plans" / "suggestions.csv").exists() and (out / "plans" / "report.html").exists()
    assert list(results)[-1] == "plan_inventory"  # make run ends with the reorder plan
    recs = pd.read_parquet(out / "recommendations" / "recommendations.parquet")
    assert recs.groupby(C.CUSTOMER_ID).size().max() == 20
    rfm = pd.read_parquet(feats / "rfm.parquet")
    assert set(rfm[C.LIFECYCLE]) <= {"new", "active", "at_risk", "dormant"}


def test_features_on_synthetic_data_in_process(tmp_path):
    out = tmp_path / "synthetic"
    ingest.run(
        cfg(
            "ingest", ["data=synthetic", "data.n_people=300", "data.days=60", f"paths.output={out}"]
        )
    )
    manifest = build_features.run(
        cfg(
            "build_features",
            [f"paths.tables={out}", "features.panels=[{level: sku_location, freq: D}]"],
        )
    )
    assert manifest["panel_sku_location_D"] > 0 and manifest["interactions"] > 0
    report = json.loads((out / "ingest_report.json").read_text())
    assert report["identity"]["truth"]["merge_precision"] > 0.8
