"""`python -m pipelines.monitor`: KPIs -> alerts -> history -> delivery.

Reads the canonical tables, the feature store's customer segments, the latest plan
(``plans/suggestions.parquet``), forecasts and recommendations; writes the KPI table to
``<monitor>/kpis/grain=<grain>/`` (Parquet, one partition per grain), raises the alerts of
``monitor.rules`` into the alert store (deduplicated by slice within ``cooldown_hours``) and sends
the new ones to the configured channels, retrying earlier dead letters first.

Model health needs forecasts of days that have since been realised: each run archives the
champion's forecast (``<monitor>/archive/forecasts/<first day>.parquet``) and the
recommendations (``archive/recommendations/<as-of>.parquet``); later runs score them against
what happened. Until an archived forecast has realised days, the champion's last backtest window
(the latest realised days it was scored on, from MLflow) stands in, labelled in the log.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from hydra.utils import instantiate

from src.features import columns as C
from src.features.sets import customer_set, open_store
from src.features.store import FeatureSetMissing
from src.features.tables import read_table
from src.monitor import alerts as AL
from src.monitor import deliver as D
from src.monitor import kpis as K
from src.monitor.store import AlertStore

log = logging.getLogger(__name__)


def read_kpis(monitor_dir: str | Path) -> pd.DataFrame:
    path = Path(monitor_dir) / "kpis"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no KPI table; run `make monitor` first")
    frame = pd.read_parquet(path)
    frame[K.GRAIN] = frame[K.GRAIN].astype("string")
    return frame[K.KPI_COLUMNS]


def write_kpis(kpis: pd.DataFrame, monitor_dir: str | Path) -> Path:
    """Atomic replace of ``<monitor>/kpis`` (written beside it, then renamed)."""
    target = Path(monitor_dir) / "kpis"
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".kpis-", dir=target.parent))
    kpis.to_parquet(staging / "data", partition_cols=[K.GRAIN], index=False)
    old = target.with_name(".kpis-old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        target.rename(old)
    (staging / "data").rename(target)
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    return target


def _segments(config: Mapping, paths: Mapping) -> pd.DataFrame | None:
    try:
        store = open_store(config["features"], paths["features"], paths["tables"])
        return store.get(customer_set(config["features"])).read("rfm", [C.CUSTOMER_ID, C.LIFECYCLE])
    except (FeatureSetMissing, FileNotFoundError, KeyError) as err:
        log.warning("no customer segments (%s): segment KPIs use 'unscored'", err)
        return None


def _champion_run(config: Mapping, registered: str):
    import mlflow

    tracking = config["tracking"]
    mlflow.set_tracking_uri(tracking["uri"])
    client = mlflow.MlflowClient()
    try:
        version = client.get_model_version_by_alias(registered, "champion")
    except mlflow.exceptions.MlflowException:
        return client, None
    return client, client.get_run(version.run_id)


def _archive(src: Path, folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"{name}.parquet"
    if src.exists() and not dest.exists():
        shutil.copy2(src, dest)


def forecast_scores(
    config: Mapping, paths: Mapping, monitor_dir: Path, actual: pd.DataFrame
) -> tuple[pd.DataFrame, dict]:
    """Scored rows (unique_id, ds, y, y_hat, q0.025, q0.975) of the champion on realised days,
    and the backtest band of its daily WAPE."""
    registered = config["granularity"]["registered_model"]
    current = Path(paths["forecasts"]) / f"{registered}.parquet"
    archive = monitor_dir / "archive" / "forecasts"
    if current.exists():
        first = pd.read_parquet(current, columns=[C.DS])[C.DS].min()
        _archive(current, archive, f"{registered}_{first:%Y%m%d}")
    scored = []
    for f in sorted(archive.glob(f"{registered}_*.parquet")):
        fc = pd.read_parquet(f)
        cols = [c for c in (C.UNIQUE_ID, C.DS, "y_hat", "q0.025", "q0.975") if c in fc]
        m = fc[cols].merge(actual, on=[C.UNIQUE_ID, C.DS], how="inner")
        if len(m):
            scored.append(m.assign(origin=f.stem))
    client, run = _champion_run(config, registered)
    band = {}
    backtest = None
    if run is not None:
        try:
            local = client.download_artifacts(run.info.run_id, "backtest/last_window.parquet")
            backtest = pd.read_parquet(local)
        except Exception as err:  # an older champion without the artifact
            log.warning("champion %s has no backtest window (%s)", registered, err)
    if backtest is not None and len(backtest):
        daily = K.forecast_kpis(backtest)
        wape = K.series(daily, "forecast_wape")
        cov = K.series(daily, "forecast_coverage95")
        band["forecast_wape"] = (None, float(np.nanquantile(wape, 0.95)))
        if len(cov):
            band["forecast_coverage95"] = (float(np.nanquantile(cov, 0.05)), None)
    if scored:
        # the newest archived forecast wins a day scored by several
        out = (
            pd.concat(scored)
            .sort_values("origin")
            .drop_duplicates([C.UNIQUE_ID, C.DS], keep="last")
        )
        log.info("model health: %d realised series-days from archived forecasts", len(out))
        return out.drop(columns="origin"), band
    if backtest is not None:
        log.info("model health: no archived forecast has realised days yet; using the champion's "
                 "last backtest window")  # fmt: skip
        return backtest, band
    return pd.DataFrame(), band


def hit_rate(paths, monitor_dir: Path, lines: pd.DataFrame, k: int) -> pd.DataFrame:
    """Daily hit rate of each archived recommendation set on the purchases after it was made
    (the newest set scores a day several could)."""
    current = Path(paths["recommendations"]) / "recommendations.parquet"
    archive = monitor_dir / "archive" / "recommendations"
    as_of = lines["day"].max()
    if current.exists():
        _archive(current, archive, f"{as_of:%Y%m%d}")
    parts = []
    for f in sorted(archive.glob("*.parquet")):
        made = pd.Timestamp(f.stem)
        later = lines[lines["is_sale"] & (lines["day"] > made)]
        if later.empty:
            continue
        recs = pd.read_parquet(f)
        parts.append(K.hit_rate_kpis(recs, later, k))
    if not parts:
        return K.empty()
    out = pd.concat(parts, ignore_index=True)
    return out.drop_duplicates([K.KPI_COL, K.GRAIN, K.DIMENSION, K.MEMBER, K.PERIOD], keep="last")


def make_factory(model_cfg: Mapping):
    def make(quantiles):
        return instantiate(dict(model_cfg), quantiles=list(quantiles))

    return make


def data_kpis(config: Mapping):
    """Sales KPIs from the canonical tables and stock KPIs from the plan: the KPI work on the
    full data (bench-monitor times exactly this). Returns the sale/return lines, the products,
    the plan (None without one) and the KPI frames."""
    cfg, paths = config["monitor"], config["paths"]
    tables = paths["tables"]
    tx = read_table(tables, "transactions", K.LINE_COLUMNS)
    products = read_table(tables, "products")
    lines = K.sales_lines(tx, products, _segments(config, paths))
    del tx
    parts = [K.sales_kpis(lines, cfg["grains"], cfg["dimensions"])]
    plans = Path(paths["plans"]) / "suggestions.parquet"
    suggestions = pd.read_parquet(plans) if plans.exists() else None
    if suggestions is not None:
        stock = K.stock_kpis(suggestions, products, cfg["stock_dimensions"])
        if stock.empty:
            log.info("no stock records in the plan: inventory KPIs skipped")
        parts.append(stock)
    else:
        log.info("no reorder plan (%s): inventory KPIs skipped", plans)
    return lines, products, suggestions, parts


def run_monitor(config: Mapping) -> dict:
    cfg = config["monitor"]
    paths = config["paths"]
    monitor_dir = Path(paths["monitor"])
    lines, products, suggestions, parts = data_kpis(config)
    # realised demand per series and day, the way the forecasts name series
    level = config["granularity"]["level"]
    sale = lines[lines[C.QTY] != 0]
    keys = [C.SKU] if level == "sku" else [C.SKU, C.LOCATION_ID]
    actual = sale.groupby([*keys, "day"], observed=True)[C.QTY].sum().reset_index()
    actual[C.UNIQUE_ID] = (
        actual[C.SKU] if level == "sku" else actual[C.SKU] + "|" + actual[C.LOCATION_ID]
    ).astype("string")
    actual = actual.rename(columns={"day": C.DS, C.QTY: C.Y})[[C.UNIQUE_ID, C.DS, C.Y]]
    scored, bands = forecast_scores(config, paths, monitor_dir, actual)
    parts.append(K.forecast_kpis(scored, products))
    parts.append(hit_rate(paths, monitor_dir, lines, int(cfg["hit_rate_k"])))
    kpis = K.concat(parts)
    write_kpis(kpis, monitor_dir)
    (monitor_dir / "bands.json").write_text(json.dumps(bands, indent=1))
    log.info("KPI table: %d rows -> %s", len(kpis), monitor_dir / "kpis")

    rules = [dict(r) for r in cfg["rules"]]
    by_name = {r["name"]: r for r in rules}
    if len(by_name) != len(rules):
        raise ValueError("monitor.rules: every rule needs a unique name")
    found = AL.evaluate(kpis, rules, make_factory(cfg["anomaly_model"]), bands, lines["day"].max())
    found = AL.attach_actions(found, by_name, suggestions, products)
    store = AlertStore(cfg["store_url"])
    retried = D.redeliver(store, cfg["channels"])
    new, suppressed = store.raise_alerts(found, timedelta(hours=float(cfg["cooldown_hours"])))
    sent = D.deliver(store, new, cfg["channels"], cfg.get("console_url"))
    log.info(
        "alerts: %d found, %d new, %d suppressed (cooldown); delivered %s; dead letters retried %s",
        len(found), len(new), suppressed, sent, retried,
    )  # fmt: skip
    return {
        "kpi_rows": len(kpis),
        "alerts_found": len(found),
        "alerts_new": len(new),
        "suppressed": suppressed,
        "delivered": sent,
        "redelivered": retried,
        "alerts": new,
    }
