"""`python -m pipelines.measure_campaigns` end to end: on the generator's brand, and on a brand's
own campaign files mapped by config alone."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest

from pipelines import ingest, measure_campaigns
from src.features import columns as C
from src.features.adapters import synthetic as S
from src.marketing import campaigns as K
from tests.helpers import SYNTHETIC, tmp_paths
from tests.helpers import compose as cfg

pytestmark = pytest.mark.integration


def _runs(tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    exp = mlflow.get_experiment_by_name("campaigns")
    return mlflow.search_runs([exp.experiment_id]) if exp else pd.DataFrame()


def test_measure_campaigns_on_synthetic_brand(tmp_path):
    paths = tmp_paths(tmp_path)
    ingest.run(cfg("ingest", [*SYNTHETIC, *paths]))
    res = measure_campaigns.run(
        cfg("measure_campaigns", [*paths, "measure.uplift.min_members=150"])
    )
    out = tmp_path / "tables" / "marketing" / "campaigns"
    results = pd.read_parquet(out / "results.parquet").set_index(C.CAMPAIGN_ID)
    assert res["measured"] == len(results) == 3
    assert results.loc["C03_app_offer", "method"] == K.OBSERVATIONAL
    assert (results.loc[["C01_email_winback", "C02_app_push"], "method"] == K.RANDOMISED).all()
    for col in (
        "revenue_lo",
        "revenue_hi",
        "revenue_p",
        "conversion_p",
        "roi",
        "roi_lo",
        "verdict",
    ):
        assert results[col].notna().all(), col
    assert (results["revenue_lo"] <= results["revenue_per_customer"]).all()
    assert (results["cost"] > 0).all() and (results["cost_source"] == "campaign file").all()
    power = pd.read_csv(out / "power.csv")
    assert set(power[C.CAMPAIGN_ID]) == set(results.index)
    uplift = pd.read_csv(out / "uplift.csv")
    assert set(uplift[C.CAMPAIGN_ID]) <= {"C01_email_winback", "C02_app_push"} and len(uplift)
    targets = pd.read_parquet(out / "next_targets.parquet")
    assert targets.groupby(C.CAMPAIGN_ID)["rank"].min().eq(1).all()
    runs = _runs(tmp_path)
    assert len(runs) == 3 and set(runs["tags.method"]) == {K.RANDOMISED, K.OBSERVATIONAL}
    assert "metrics.roi" in runs and runs["metrics.revenue_p"].notna().all()


def test_a_brands_campaign_file_is_measured_by_config_alone(tmp_path):
    data = S.generate(seed=5, n_people=500, n_skus=40, days=200)
    sales = data.raw["web"].rename(columns={C.ORDER_ID: "OrderNo", C.CUSTOMER_ID: "Shopper",
                                            C.SKU: "Article", C.TS: "Date", C.QTY: "Pieces",
                                            C.UNIT_PRICE: "Price"})  # fmt: skip
    sales = sales[sales["Shopper"].notna()]
    sales[["OrderNo", "Shopper", "Article", "Date", "Pieces", "Price"]].to_csv(
        tmp_path / "sales.csv", index=False
    )
    camp = data.campaigns[data.campaigns[C.CHANNEL] == "web"]
    pd.DataFrame({"Code": camp[C.CAMPAIGN_ID], "Kind": camp[C.CAMPAIGN_TYPE],
                  "Sent": camp[C.START].dt.strftime("%d/%m/%Y"),
                  "Until": camp[C.END].dt.strftime("%d/%m/%Y")}).to_csv(
        tmp_path / "campaigns.csv", index=False)  # fmt: skip
    mem = data.members[data.members[C.CHANNEL] == "web"]
    pd.DataFrame({"Code": mem[C.CAMPAIGN_ID], "Shopper": mem[C.CUSTOMER_ID],
                  "Arm": mem[C.GROUP].map({"treated": "mail", "holdout": "ctrl"})}).to_csv(
        tmp_path / "members.csv", index=False)  # fmt: skip
    block = (
        f"[{{path:'{tmp_path}/campaigns.csv',name:crm,channel:email,ts_format:'%d/%m/%Y',"
        "columns:{campaign_id:Code,type:Kind,start:Sent,end:Until},"
        f"members:{{path:'{tmp_path}/members.csv',name:generic,"
        "columns:{campaign_id:Code,customer_id:Shopper,group:Arm},labels:{mail:treated,ctrl:holdout}}}]"
    )
    paths = tmp_paths(tmp_path)
    ingest.run(cfg("ingest", ["data=generic", f"data.path={tmp_path}/sales.csv",
                              "data.columns.order_id=OrderNo", "data.columns.customer_id=Shopper",
                              "data.columns.sku=Article", "data.columns.ts=Date",
                              "data.columns.qty=Pieces", "data.columns.unit_price=Price",
                              f"data.campaigns={block}", *paths]))  # fmt: skip
    measure_campaigns.run(cfg("measure_campaigns", [*paths, "measure.cost_per_contact.email=0.02"]))
    out = tmp_path / "tables" / "marketing" / "campaigns"
    results = pd.read_csv(out / "results.csv").set_index(C.CAMPAIGN_ID)
    assert list(results.index) == ["C01_email_winback"]
    row = results.loc["C01_email_winback"]
    assert row["method"] == K.RANDOMISED and row[C.CHANNEL] == "email"
    # no cost column in the brand's file: priced per contact from the config
    assert row["cost"] == pytest.approx(0.02 * row["n_treated"])
    assert row["cost_source"].startswith("cost_per_contact 0.02")
