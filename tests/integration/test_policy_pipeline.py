"""ingest -> forecast (SKU x location) -> plan_inventory on synthetic data with real stock."""

from __future__ import annotations

import hashlib
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from mlflow import MlflowClient

from pipelines import ingest, plan_inventory, train_forecast
from src.features import columns as C
from src.features.validation import DataValidationError
from src.policy.suggest import SUGGESTION_COLUMNS
from tests.helpers import REPO

pytestmark = pytest.mark.integration


def overrides(tmp):
    return [
        f"paths.output={tmp}/tables",
        f"paths.mlruns={tmp}/mlruns",
        f"paths.logs={tmp}/logs",
        "granularity=sku_location_daily",
        "granularity.horizon=21",
        "granularity.backtest_windows=1",
        "granularity.backtest_step=21",
        "granularity.top_n=null",
        "policy.draws=200",
        "policy.moq=12",
        "policy.case_pack=6",
        "policy.transfers.excess_days=20",
        "policy.simulation.window_days=28",
        "policy.simulation.policies.forecast_sl.sweep.service_level=[0.8,0.95]",
    ]


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("policy")
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        ingest.run(
            compose(
                "ingest",
                [
                    "data=synthetic",
                    "data.n_people=300",
                    "data.n_skus=30",
                    "data.days=200",
                    *overrides(tmp)[:3],
                ],
            )
        )
        train_forecast.run(
            compose("train_forecast", [*overrides(tmp)[:8], "forecast.train=[croston_sba,tsb]"])
        )
        cfg = compose("plan_inventory", overrides(tmp))
        result = plan_inventory.run(cfg)
    return result, cfg, tmp


def test_suggestions_follow_the_contract(planned):
    result, cfg, _ = planned
    out = pd.read_parquet(f"{cfg.paths.plans}/suggestions.parquet")
    csv = pd.read_csv(f"{cfg.paths.plans}/suggestions.csv", dtype={C.SKU: str})
    # the DESIGN.md contract first, in its order; additions after it
    assert list(out.columns[: len(SUGGESTION_COLUMNS) + 1]) == [*SUGGESTION_COLUMNS, "as_of"]
    fc = pd.read_parquet(f"{cfg.paths.forecasts}/{cfg.granularity.registered_model}.parquet")
    assert len(out) == len(csv) == fc[C.UNIQUE_ID].nunique() > 30
    assert out[C.LOCATION_ID].nunique() > 1 and out["inventory_known"].all()
    assert (out["order_qty"] >= 0).all()
    ordered = out[out["order_qty"] > 0]
    assert len(ordered) and (ordered["order_qty"] >= 12).all()
    assert np.allclose(ordered["order_qty"] % 6, 0)
    assert (out["order_up_to"] >= out["safety_stock"]).all()
    assert set(out["abc_class"]) <= {"A", "B", "C"} and out["reason"].str.len().gt(10).all()
    # lead times come from the locations table (synthetic: stores 7, web 5, marketplace 10)
    assert set(out["lead_time_days"]) <= {5.0, 7.0, 10.0}
    rs = out[(out["transfer_in"] == 0)]
    np.testing.assert_allclose(  # (R, S): order = S - IP rounded up to MOQ / case packs
        rs["order_qty"],
        np.where(
            rs["order_up_to"] > rs["inventory_position"],
            np.ceil(np.maximum(rs["order_up_to"] - rs["inventory_position"], 12) / 6 - 1e-9) * 6,
            0,
        ),
    )


def test_transfers_move_excess_to_short_locations_first(planned):
    result, cfg, _ = planned
    s, t = result["suggestions"], result["transfers"]
    assert len(t) > 0, "the seeded data has excess stock at some locations"
    assert (t["qty"] > 0).all() and np.allclose(t["qty"] % 6, 0)
    assert (t["from_location"] != t["to_location"]).all()
    assert (t["from_days_of_cover_before"] > 20).all()
    for row in t.itertuples():
        src = s[(s[C.SKU] == row.sku) & (s[C.LOCATION_ID] == row.from_location)].iloc[0]
        assert (
            src["on_hand"] - src["transfer_out"] >= src["order_up_to"] - 1e-9
        )  # giver keeps its S
    got = s[s["transfer_in"] > 0]
    assert (got["order_qty"] <= got["order_qty_unrounded"] + 12).all()
    assert pd.read_csv(f"{cfg.paths.plans}/transfers.csv").shape[0] == len(t)


def test_report_simulation_and_tracking(planned):
    result, cfg, tmp = planned
    out = cfg.paths.plans
    html = Path(f"{out}/report.html").read_text()
    assert "data:image/png;base64," in html and "Top 20 orders by value" in html
    sim = pd.read_csv(f"{out}/simulation.csv")
    assert {
        "forecast_abc",
        "forecast_sS",
        "forecast_sQ",
        "normal_z1.645",
        "rule_of_thumb[days=45]",
        "forecast_sl[service_level=0.95]",
    } <= set(sim["policy"])
    assert sim["fill_rate"].between(0, 1).all() and (sim["days_of_cover"] > 0).all()
    client = MlflowClient()
    exp = mlflow.get_experiment_by_name("policy")
    runs = client.search_runs([exp.experiment_id])
    parent = [r for r in runs if r.info.run_id == result["run_id"]][0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == len(sim)
    assert all("sim/fill_rate" in r.data.metrics for r in children)
    assert parent.data.metrics["plan/rows"] == len(result["suggestions"])
    arts = {a.path for a in client.list_artifacts(parent.info.run_id, "plan")}
    assert {"plan/report.html", "plan/tradeoff.png", "plan/suggestions.csv"} <= arts


def test_bad_supply_terms_are_refused_and_nothing_is_overwritten(planned, tmp_path):
    _, cfg, tmp = planned
    before = hashlib.sha256(Path(f"{cfg.paths.plans}/suggestions.parquet").read_bytes()).hexdigest()
    terms = tmp_path / "terms.csv"
    pd.DataFrame({"sku": ["S001", "S002", "S003"], "moq": [10, -5, "many"]}).to_csv(
        terms, index=False
    )
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg2 = compose("plan_inventory", [*overrides(tmp), f"policy.supply_terms={terms}"])
        with pytest.raises(DataValidationError) as err:
            plan_inventory.run(cfg2)
    msg = str(err.value)
    assert str(terms) in msg and "'moq'" in msg and "non-negative" in msg and "2 row(s)" in msg
    assert "many" in msg
    after = hashlib.sha256(Path(f"{cfg.paths.plans}/suggestions.parquet").read_bytes()).hexdigest()
    assert before == after


def test_supply_terms_override_lead_time_and_packs(planned, tmp_path):
    result, cfg, tmp = planned
    s = result["suggestions"]
    sku = s[C.SKU].iloc[0]
    terms = tmp_path / "terms.csv"
    pd.DataFrame({"sku": [sku], "case_pack": [50], "lead_time_days": [3]}).to_csv(
        terms, index=False
    )
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg2 = compose(
            "plan_inventory",
            [
                *overrides(tmp),
                f"policy.supply_terms={terms}",
                "policy.simulation.enabled=false",
                f"paths.plans={tmp_path}/plans",
                "policy.transfers.enabled=false",
            ],
        )
        res = plan_inventory.run(cfg2)
    got = res["suggestions"]
    rows = got[got[C.SKU] == sku]
    assert (rows["lead_time_days"] == 3).all() and (rows["case_pack"] == 50).all()
    assert np.allclose(rows["order_qty"] % 50, 0)
    others = got[got[C.SKU] != sku]
    assert (others["case_pack"] == 6).all()


def test_missing_forecast_says_what_to_run(tmp_path):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("plan_inventory", [f"paths.output={tmp_path}", f"paths.mlruns={tmp_path}/m"])
        with pytest.raises(FileNotFoundError, match="make train-forecast"):
            plan_inventory.run(cfg)


def test_newsvendor_season_buy(planned, tmp_path):
    _, cfg, tmp = planned
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg2 = compose(
            "plan_inventory",
            [
                *overrides(tmp),
                "policy.newsvendor.enabled=true",
                "policy.newsvendor.season_days=21",
                "policy.simulation.enabled=false",
                f"paths.plans={tmp_path}/plans",
            ],
        )
        res = plan_inventory.run(cfg2)
    nv = pd.read_parquet(tmp_path / "plans" / "newsvendor.parquet")
    assert len(nv) == len(res["suggestions"])
    # price = 2 x value, salvage 0.3 x value: Cu = v, Co = 0.7 v -> 1 / 1.7
    np.testing.assert_allclose(nv["critical_ratio"], 1 / 1.7)
    assert (nv["buy_qty"] >= 0).all() and (nv["season_days"] == 21).all()
    # a ratio a little above 0.5 buys about the expected season demand in total
    assert 0.8 < nv["buy_qty"].sum() / nv["expected_demand"].sum() < 1.3
