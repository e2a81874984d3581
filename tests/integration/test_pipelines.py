"""Pipelines end to end on tiny data: configs compose, the generic command, ingest -> features."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from pipelines import build_features, ingest, run
from src import outputs
from src.features import columns as C
from src.features.sets import demand_set, interaction_set
from src.features.store import FeatureStore
from src.features.tables import read_tables
from tests.helpers import compose as cfg
from tests.helpers import run_module

pytestmark = pytest.mark.integration


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
    built = {fs.name: fs for fs in results["build_features"]}
    assert set(built) == {
        "demand_sku_D",
        "demand_sku_location_W",
        "demand_category_location_MS",
        "interactions",
        "customers",
        "catalog",
    }
    store = FeatureStore(out / "features", out)
    panel = store.get(demand_set(c.features, "sku", "D")).read("panel")
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
    # make run ends with the reorder plan, then the KPIs and alerts built on it
    assert list(results)[-2:] == ["plan_inventory", "monitor"]
    assert results["monitor"]["kpi_rows"] > 0 and (out / "monitor" / "kpis").is_dir()
    assert results["clv"]["customers"] > 0 and (out / "marketing" / "clv.parquet").exists()
    assert (out / "marketing" / "audiences" / "audiences.parquet").exists()
    assert (out / "marketing" / "contacts.parquet").exists()
    recs = pd.read_parquet(out / "recommendations" / "recommendations.parquet")
    assert recs.groupby(C.CUSTOMER_ID).size().max() == 20
    rfm = built["customers"].read("rfm")
    assert set(rfm[C.LIFECYCLE]) <= {"new", "active", "at_risk", "dormant"}
    events = store.get(interaction_set(c.features)).read("interactions")
    assert events[C.CUSTOMER_ID].isin(set(rfm[C.CUSTOMER_ID])).all()
    # every output the run wrote meets its declared schema (src/outputs), and carries its lineage
    paths = OmegaConf.to_container(c.paths, resolve=True)
    report = outputs.check_all(paths, {})
    assert not {f: p for f, p in report.items() if p}, report
    for name in ("recommendations", "suggestions", "transfers", "plan_simulation", "clv",
                 "audiences", "contacts", "kpis"):  # fmt: skip
        assert outputs.exists(paths, name), name
    assert outputs.instances(paths, "forecast_archive", registered="forecast_sku_D")
    made = outputs.lineage(paths, "forecast", registered="forecast_sku_D")
    assert made["run_id"] and made["features"] and made["version"]


def test_features_on_synthetic_data_in_process(tmp_path):
    out = tmp_path / "synthetic"
    ingest.run(
        cfg(
            "ingest", ["data=synthetic", "data.n_people=300", "data.days=60", f"paths.output={out}"]
        )
    )
    built = build_features.run(
        cfg(
            "build_features",
            [f"paths.tables={out}", "features.panels=[{level: sku_location, freq: D}]"],
        )
    )
    rows = {fs.name: fs.rows(fs.tables[0]) for fs in built}
    assert rows["demand_sku_location_D"] > 0 and rows["interactions"] > 0
    report = json.loads((out / "ingest_report.json").read_text())
    assert report["identity"]["truth"]["merge_precision"] > 0.8


def test_run_takes_a_part_of_the_steps_in_order(tmp_path):
    with pytest.raises(ValueError, match="steps \\['nope'\\] unknown"):
        run.run(cfg("run", ["steps=[ingest,nope]"]))
    out = tmp_path / "part"
    c = cfg(
        "run",
        [
            "data=synthetic",
            "data.n_people=150",
            "data.days=60",
            f"paths.output={out}",
            f"paths.logs={tmp_path}/logs",
            "steps=[build_features,ingest]",  # listed out of order: run in the pipeline's order
        ],
    )
    results = run.run(c)
    assert list(results) == ["ingest", "build_features"]
    assert not (out / "forecasts").exists()
