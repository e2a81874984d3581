"""`python -m pipelines.clv`: fit, evaluate and track the CLV models; write per-customer values.

1. **Evaluate** on the data's own calibration / holdout split (the last ``holdout_days``):
   repeat purchases per customer predicted vs actual, against the naive past-rate peer, per
   frequency bucket — metrics, the table and the plot in the MLflow experiment ``clv``.
2. **Refit** on all data and write ``<marketing>/clv.parquet``: per customer ``p_alive``,
   expected purchases and value over 3 / 6 / 12 months, spend per purchase, ``clv_tier``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

import mlflow
import pandas as pd

from src.features import columns as C
from src.features.csv_export import to_csv
from src.features.sets import customer_set, open_store
from src.features.tables import read_table
from src.marketing import audiences as AU
from src.marketing import clv
from src.tracking.runs import configure

log = logging.getLogger(__name__)


def run_clv(config: Mapping) -> dict:
    cfg, paths = config["clv"], config["paths"]
    tables = paths["tables"]
    tx = read_table(tables, "transactions")
    order_table = clv.orders(tx, read_table(tables, "products"))
    del tx
    if order_table.empty:
        raise ValueError(f"{tables}: no sale orders of known customers: nothing to value")
    end = order_table[clv.ORDER_DATE].max()
    cal_end = pd.Timestamp(cfg["calibration_end"]) if cfg.get("calibration_end") else (
        end - pd.Timedelta(days=int(cfg["holdout_days"])))  # fmt: skip
    tracking = config["tracking"]
    configure(tracking["uri"], "clv", tracking["artifact_root"])
    out_dir = Path(paths["marketing"])
    out_dir.mkdir(parents=True, exist_ok=True)
    with mlflow.start_run(run_name=f"clv {cfg['model']}"):
        mlflow.log_params({"model": cfg["model"], "calibration_end": str(cal_end.date()),
                           "holdout_end": str(end.date()),
                           "horizons_days": list(cfg["horizons_days"]),
                           "tier_quantiles": list(cfg["tier_quantiles"])})  # fmt: skip
        t = time.perf_counter()
        cal = clv.split(order_table, cal_end, end)
        models = clv.fit(cal, cfg["model"])
        metrics, table = clv.evaluate(models, cal)
        metrics["time/evaluate_s"] = time.perf_counter() - t
        mlflow.log_metrics({f"holdout/{k}": float(v) for k, v in metrics.items()})
        mlflow.log_table(table, "holdout_by_frequency.json")
        fig = clv.bucket_plot(table, f"CLV holdout {cal_end:%Y-%m-%d}..{end:%Y-%m-%d}")
        mlflow.log_figure(fig, "plots/holdout_by_frequency.png")
        log.info(
            "CLV holdout (%d customers, %d days): MAE %.3f vs naive %.3f (%.3fx); total %+.1f %%",
            metrics["customers"], metrics["holdout_days"], metrics["mae"], metrics["mae_naive"],
            metrics["mae_ratio_to_naive"], 100 * metrics["total_error"],
        )  # fmt: skip
        t = time.perf_counter()
        full = clv.summary(order_table, end)
        values = clv.predict(clv.fit(full, cfg["model"]), full, cfg["horizons_days"],
                             cfg["tier_quantiles"])  # fmt: skip
        values["as_of"] = end
        path = out_dir / "clv.parquet"
        tmp = path.with_suffix(".parquet.tmp")
        values.to_parquet(tmp, index=False)
        tmp.replace(path)  # readers never see half a file
        mlflow.log_metric("time/final_fit_predict_s", time.perf_counter() - t)
        tiers = values["clv_tier"].value_counts().sort_index()
        mlflow.log_metrics({f"tier_{k}/customers": int(v) for k, v in tiers.items()})
        log.info("CLV for %d customers -> %s (tiers %s)", len(values), path, tiers.to_dict())
    return {"metrics": metrics, "customers": len(values), "path": str(path)}


def run_audiences(config: Mapping) -> dict:
    """Dated audiences of ``audiences.rules`` with suppression and a recorded random holdout:
    ``<marketing>/audiences/<name>.csv`` (the latest run), ``audiences.parquet`` (all of this
    run) and the contact log ``contacts.parquet`` (every treated and holdout customer, by run)."""
    cfg, paths = config["audiences"], config["paths"]
    t = time.perf_counter()
    store = open_store(config["features"], paths["features"], paths["tables"])
    fs = store.get(customer_set(config["features"]))
    rfm = fs.read("rfm")
    aipl = fs.read("aipl") if "aipl" in fs.tables else None
    out_dir = Path(paths["marketing"])
    clv_path = out_dir / "clv.parquet"
    values = pd.read_parquet(clv_path) if clv_path.exists() else None
    if values is None:
        log.warning("no CLV yet (%s): CLV conditions match nobody; run `make clv`", clv_path)
    recs_path = Path(paths["recommendations"]) / "recommendations.parquet"
    recs = pd.read_parquet(recs_path) if recs_path.exists() else None
    tables = paths["tables"]
    tx = read_table(tables, "transactions",
                    [C.CUSTOMER_ID, C.SKU, C.QTY, C.UNIT_PRICE, C.LINE_TYPE, C.TS])  # fmt: skip
    prof = AU.profile(rfm, aipl, values, tx, read_table(tables, "products"))
    as_of = pd.Timestamp(cfg["as_of"]) if cfg.get("as_of") else tx[C.TS].max().normalize()
    contacts_path = out_dir / "contacts.parquet"
    contacts = pd.read_parquet(contacts_path) if contacts_path.exists() else None
    treated_before = None  # earlier runs' treated customers (a rerun of the day replaces it)
    if contacts is not None:
        earlier = pd.to_datetime(contacts[AU.AS_OF]) != as_of
        treated_before = contacts[earlier & (contacts[AU.GROUP] == AU.TREATED)]
    audiences, report = AU.build(
        prof, [dict(r) for r in cfg["rules"]], recs, treated_before, as_of,
        suppression_days=int(cfg["suppression_days"]), holdout_share=float(cfg["holdout_share"]),
        seed=int(cfg["seed"]), top_items=int(cfg["top_items"]),
        opted_out=AU.read_opt_outs(cfg.get("opt_out_file")),
    )  # fmt: skip
    folder = out_dir / "audiences"
    folder.mkdir(parents=True, exist_ok=True)
    for name, g in audiences.groupby(AU.AUDIENCE):
        to_csv(g, folder / f"{name}.csv")
    audiences.to_parquet(folder / "audiences.parquet", index=False)
    to_csv(report, folder / "report.csv")
    if contacts is not None:  # a rerun for the same day replaces that day's sends
        contacts = contacts[pd.to_datetime(contacts[AU.AS_OF]) != as_of]
    log_rows = audiences[[AU.AUDIENCE, AU.AS_OF, C.CUSTOMER_ID, AU.GROUP]]
    updated = (
        pd.concat([contacts, log_rows], ignore_index=True) if contacts is not None else log_rows
    )
    tmp = contacts_path.with_suffix(".parquet.tmp")
    updated.to_parquet(tmp, index=False)
    tmp.replace(contacts_path)
    seconds = time.perf_counter() - t
    log.info("audiences on %s: %d customers in %d audiences (%.1f s) -> %s", as_of.date(),
             len(audiences), audiences[AU.AUDIENCE].nunique(), seconds, folder)  # fmt: skip
    return {"rows": len(audiences), "report": report, "seconds": seconds, "path": str(folder)}
