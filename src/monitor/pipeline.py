"""`python -m pipelines.monitor`: KPIs -> alerts -> history -> delivery.

Reads the canonical tables, the feature store's customer segments, and the outputs
``suggestions``, ``forecast`` and ``recommendations`` (src/outputs); writes the output ``kpis``
(Parquet, one partition per grain) and ``kpi_bands``, raises the alerts of
``monitor.rules`` into the alert store (deduplicated by slice within ``cooldown_hours``) and sends
the new ones to the configured channels, retrying earlier dead letters first.

Model health needs forecasts of days that have since been realised: each run archives the
champion's forecast (output ``forecast_archive``, one per first day) and the recommendations
(``recommendation_archive``, one per as-of day); later runs score them against
what happened. Until an archived forecast has realised days, the champion's last backtest window
(the latest realised days it was scored on, from MLflow) stands in, labelled in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

import numpy as np
import pandas as pd
from hydra.utils import instantiate

from src import outputs
from src.features import columns as C
from src.features.sets import customer_set, open_store
from src.features.store import FeatureSetMissing
from src.features.tables import read_table
from src.monitor import alerts as AL
from src.monitor import deliver as D
from src.monitor import kpis as K
from src.monitor.store import AlertStore
from src.outputs.ids import series_id
from src.tracking import CHAMPION

log = logging.getLogger(__name__)


def read_kpis(paths: Mapping) -> pd.DataFrame:
    frame = outputs.read(paths, "kpis")
    frame[K.GRAIN] = frame[K.GRAIN].astype("string")
    return frame[K.KPI_COLUMNS]


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
        version = client.get_model_version_by_alias(registered, CHAMPION)
    except mlflow.exceptions.MlflowException:
        return client, None
    return client, client.get_run(version.run_id)


def _archive(paths: Mapping, archive: str, frame: pd.DataFrame, lineage: dict, **params) -> None:
    """Keep ``frame`` (a current output) as an instance of the ``archive`` output, once."""
    if not outputs.exists(paths, archive, **params):
        outputs.write(paths, archive, frame, lineage, **params)


def forecast_scores(
    config: Mapping, paths: Mapping, actual: pd.DataFrame
) -> tuple[pd.DataFrame, dict]:
    """Scored rows (unique_id, ds, y, y_hat, q0.025, q0.975) of the champion on realised days,
    and the backtest band of its daily WAPE."""
    registered = config["granularity"]["registered_model"]
    current = outputs.read_if_exists(paths, "forecast", registered=registered)
    if current is not None:
        origin = f"{current[C.DS].min():%Y%m%d}"
        made = outputs.lineage(paths, "forecast", registered=registered)
        _archive(paths, "forecast_archive", current, made, registered=registered, origin=origin)
    scored = []
    for params, f in outputs.instances(paths, "forecast_archive", registered=registered):
        fc = pd.read_parquet(f)
        cols = [c for c in (C.UNIQUE_ID, C.DS, "y_hat", "q0.025", "q0.975") if c in fc]
        m = fc[cols].merge(actual, on=[C.UNIQUE_ID, C.DS], how="inner")
        if len(m):
            scored.append(m.assign(origin=params["origin"]))
    client, run = _champion_run(config, registered)
    band = {}
    backtest = None
    if run is not None:
        try:
            local = client.download_artifacts(
                run.info.run_id, outputs.artifact_path("backtest_window")
            )
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


def hit_rate(paths: Mapping, lines: pd.DataFrame, k: int) -> pd.DataFrame:
    """Daily hit rate of each archived recommendation set on the purchases after it was made
    (the newest set scores a day several could)."""
    current = outputs.read_if_exists(paths, "recommendations")
    as_of = lines["day"].max()
    if current is not None:
        made = outputs.lineage(paths, "recommendations")
        _archive(paths, "recommendation_archive", current, made, as_of=f"{as_of:%Y%m%d}")
    parts = []
    for params, f in outputs.instances(paths, "recommendation_archive"):
        made = pd.Timestamp(params["as_of"])
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
    suggestions = outputs.read_if_exists(paths, "suggestions")
    if suggestions is not None:
        stock = K.stock_kpis(suggestions, products, cfg["stock_dimensions"])
        if stock.empty:
            log.info("no stock records in the plan: inventory KPIs skipped")
        parts.append(stock)
    else:
        log.info("no reorder plan (%s): inventory KPIs skipped", outputs.path(paths, "suggestions"))
    return lines, products, suggestions, parts


def realised_demand(lines: pd.DataFrame, level: str) -> pd.DataFrame:
    """Realised demand per series and day (``unique_id, ds, y``), the series named as the demand
    panels name them (src/outputs/ids.py) so archived forecasts meet their actuals."""
    sale = lines[lines[C.QTY] != 0]
    keys = [C.SKU] if level == "sku" else [C.SKU, C.LOCATION_ID]
    actual = sale.groupby([*keys, "day"], observed=True)[C.QTY].sum().reset_index()
    actual[C.UNIQUE_ID] = series_id(actual, keys).astype("string")
    return actual.rename(columns={"day": C.DS, C.QTY: C.Y})[[C.UNIQUE_ID, C.DS, C.Y]]


def run_monitor(config: Mapping) -> dict:
    cfg = config["monitor"]
    paths = config["paths"]
    lines, products, suggestions, parts = data_kpis(config)
    actual = realised_demand(lines, config["granularity"]["level"])
    scored, bands = forecast_scores(config, paths, actual)
    parts.append(K.forecast_kpis(scored, products))
    parts.append(hit_rate(paths, lines, int(cfg["hit_rate_k"])))
    kpis = K.concat(parts)
    kpi_path = outputs.write(paths, "kpis", kpis)
    outputs.write_json(paths, "kpi_bands", bands)
    log.info("KPI table: %d rows -> %s", len(kpis), kpi_path)

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
