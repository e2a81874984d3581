"""`make monitor` end to end: synthetic data with a planted web outage -> KPIs -> alerts that reach
a real webhook receiver and a real SMTP server on loopback; cooldown, dead letters, redelivery."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pipelines import monitor
from src.monitor.kpis import KPI_COLUMNS, KPIS
from src.monitor.pipeline import read_kpis
from src.monitor.store import AlertStore
from tests.helpers import SmtpReceiver, WebhookReceiver, compose, train_tiny_stack

pytestmark = pytest.mark.integration
GRAN = ["granularity.horizon=14", "granularity.backtest_windows=1", "granularity.top_n=25"]
# the web shop takes 5 % of its usual orders on the last day of the data
OUTAGE = ["data.anomalies=[{day:-1,days:1,channel:web,factor:0.05}]", "data.days=240"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("monitor")
    paths = train_tiny_stack(
        tmp, "[seasonal_naive]", "[popularity]", GRAN, ["policy.simulation.enabled=false"], OUTAGE
    )
    return tmp, paths


def channels(hook: str, smtp_port: int) -> list[str]:
    return [
        f"monitor.channels.webhook.url={hook}",
        "monitor.channels.webhook.backoff_s=0",
        "monitor.channels.webhook.retries=2",
        "monitor.channels.email.host=127.0.0.1",
        f"monitor.channels.email.port={smtp_port}",
        "monitor.channels.email.backoff_s=0",
    ]


def test_planted_outage_alert_reaches_webhook_and_email(stack, monkeypatch):
    tmp, paths = stack
    monkeypatch.setenv("RETAIL_BRAIN_WEBHOOK_TOKEN", "hook-secret-token")
    hook, smtp = WebhookReceiver(), SmtpReceiver()
    try:
        cfg = compose("monitor", [*paths, *GRAN, *channels(hook.url, smtp.port)])
        result = monitor.run(cfg)
        kpis = read_kpis(cfg.paths)
        assert list(kpis.columns) == KPI_COLUMNS
        assert set(kpis["kpi"]) <= set(KPIS)
        # every sales KPI by day and week; stock KPIs from the plan's stock records
        for k in ("net_sales", "orders", "aov", "repeat_rate", "stockout_rate", "days_of_cover"):
            assert k in set(kpis["kpi"]), k
        assert {"day", "week", "snapshot"} <= set(kpis["grain"])
        assert {"total", "channel", "location", "category", "segment"} <= set(kpis["dimension"])

        web = [
            a
            for a in result["alerts"]
            if a["rule"] == "sales_anomaly"
            and a["member"] == "web"
            and " is below " in a["message"]
        ]
        assert web, [a["message"] for a in result["alerts"]]
        assert web[0]["lo"] > web[0]["value"]  # the evidence shows the band it fell out of
        # delivered: the webhook got JSON with the evidence and a link, with the Bearer token
        bodies = [b for b in hook.received if b["rule"] == "sales_anomaly"]
        assert bodies and bodies[0]["slice"]["dimension"] in {"channel", "total"}
        assert bodies[0]["link"].startswith("http://127.0.0.1:8050/")
        assert hook.headers[0]["Authorization"] == "Bearer hook-secret-token"
        assert any("[retail-brain critical]" in m["Subject"] for m in smtp.messages)
        store = AlertStore(cfg.monitor.store_url)
        assert {d["status"] for d in store.deliveries()} == {"sent"}
        # a stock-out alert lists the SKUs below their reorder point
        stockout = [a for a in result["alerts"] if a["rule"] == "stockout_risk"]
        if stockout:
            assert stockout[0]["items"] and "reorder point" in stockout[0]["items"][0]

        # the same alerts within the cooldown are not raised (nor sent) again
        n_hook = len(hook.received)
        again = monitor.run(cfg)
        assert again["alerts_new"] == 0 and again["suppressed"] == result["alerts_found"]
        assert len(hook.received) == n_hook
    finally:
        hook.close()
        smtp.close()


def test_failing_receiver_dead_letters_then_redelivers(stack, tmp_path):
    tmp, paths = stack
    bad, smtp = WebhookReceiver(fail=True), SmtpReceiver()
    store_url = f"sqlite:///{tmp_path}/alerts.db"
    over = [*paths, *GRAN, f"monitor.store_url={store_url}", "monitor.cooldown_hours=0"]
    try:
        result = monitor.run(compose("monitor", [*over, *channels(bad.url, smtp.port)]))
        assert result["alerts_new"] > 0
        store = AlertStore(store_url)
        dead = store.deliveries("dead_letter")
        assert dead and all(d["channel"] == "webhook" and d["attempts"] == 3 for d in dead)
        assert "HTTP 500" in dead[0]["error"]
        assert json.loads(dead[0]["payload"])["rule"]  # the full payload is kept
        bad.fail = False  # the receiver is back: the next run delivers every dead letter
        again = monitor.run(compose("monitor", [*over, *channels(bad.url, smtp.port)]))
        assert again["redelivered"]["sent"] == len(dead)
        assert not store.deliveries("dead_letter")
        got = {b["id"] for b in bad.received}
        assert {d["alert_id"] for d in dead} <= got
    finally:
        bad.close()
        smtp.close()


def test_acknowledge_records_who_and_when(tmp_path):
    store = AlertStore(f"sqlite:///{tmp_path}/a.db")
    alert = {
        "key": "r|total|all", "rule": "r", "kind": "threshold", "severity": "warning",
        "area": "sales", "kpi": "net_sales", "grain": "day", "dimension": "total",
        "member": "all", "period": pd.Timestamp("2024-01-01").to_pydatetime(), "value": 1.0,
        "message": "m", "action": "a", "link": "/overview", "items": ["x"],
    }  # fmt: skip
    (stored,), _ = store.raise_alerts([alert], pd.Timedelta(hours=1))
    assert store.acknowledge(stored["id"], "ann")
    assert not store.acknowledge(stored["id"], "bob")  # already acknowledged
    row = store.alerts()[0]
    assert row["status"] == "acknowledged" and row["ack_by"] == "ann" and row["ack_at"]


def test_archived_forecasts_are_scored_once_their_days_are_realised(stack):
    from omegaconf import OmegaConf

    from src.monitor.pipeline import forecast_scores

    tmp, paths = stack
    cfg = OmegaConf.to_container(compose("monitor", [*paths, *GRAN]), resolve=True)
    tables = tmp / "tables"
    monitor_dir = tables / "monitor"
    fc = pd.read_parquet(tables / "forecasts" / "forecast_sku_D.parquet")
    tx = pd.read_parquet(tables / "transactions.parquet")
    last = tx["ts"].max().normalize()
    # yesterday's forecast, as an earlier run would have archived it: its days are now history
    old = fc.assign(ds=fc["ds"] - (fc["ds"].min() - (last - pd.Timedelta(days=6))))
    archive = monitor_dir / "archive" / "forecasts"
    archive.mkdir(parents=True, exist_ok=True)
    old.to_parquet(archive / "forecast_sku_D_20000101.parquet")
    actual = (
        tx[tx["line_type"] == "sale"]
        .assign(ds=tx["ts"].dt.normalize(), unique_id=tx["sku"].astype("string"))
        .groupby(["unique_id", "ds"], as_index=False)["qty"]
        .sum()
        .rename(columns={"qty": "y"})
    )
    scored, band = forecast_scores(cfg, cfg["paths"], actual)
    assert scored["ds"].min() == last - pd.Timedelta(days=6) and scored["ds"].max() == last
    assert "forecast_wape" in band and band["forecast_wape"][1] > 0
    # today's forecast was archived too, for the runs to come
    assert len(list(archive.glob("forecast_sku_D_*.parquet"))) == 2
