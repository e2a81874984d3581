"""The planning step without Hydra: read, plan, replay, write, track.

``plan_inventory`` reads the champion's forecast written by the forecasting step, the demand
panel and the catalog from the feature store, stock from the canonical ``inventory`` table and
an optional supply-terms file; :func:`src.policy.plan.make_plan` does the planning;
:func:`src.policy.evaluate.simulate_history` replays the configured policies as evidence. Then

* ``suggestions.parquet`` / ``.csv`` — one row per location x SKU (DESIGN.md contract + reasons);
* ``transfers.parquet`` / ``.csv`` — stock to move between locations before buying;
* ``newsvendor.parquet`` / ``.csv`` — one-shot season buys, when enabled;
* ``simulation.csv`` + ``tradeoff.png`` + ``stock_over_time.png`` — the replayed policies;
* ``report.html`` — top actions, class mix, the fill-rate / stock trade-off chart;

are written and logged to the task's MLflow experiment (one parent run, one nested run per
simulated policy), and a summary is printed. Every input is checked before anything is written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import mlflow
import pandas as pd

from src import outputs
from src.features import columns as C
from src.features.sets import CatalogSet, open_store
from src.features.store import FeatureStore, combine
from src.features.tables import fingerprint, table_files
from src.forecast.pipeline import demand, forecasts_period_sums, model_factories
from src.inventory.keys import LEVELS
from src.inventory.stock import read_inventory
from src.inventory.supply import read_supply_terms
from src.policy.evaluate import KPI_COLUMNS, simulate_history
from src.policy.plan import Plan, make_plan
from src.policy.plots import stock_over_time, tradeoff
from src.policy.report import html_report, terminal_summary
from src.tracking import TaskSpec, configure, log_context

log = logging.getLogger(__name__)


def plan_inventory(config: Mapping, store: FeatureStore) -> dict:
    t0 = time.perf_counter()
    pcfg, gran = config["policy"], config["granularity"]
    if gran["level"] not in LEVELS or gran["freq"] != "D":
        raise ValueError(
            f"plan_inventory plans SKU (x location) stock from daily forecasts; granularity "
            f"{gran['level']}/{gran['freq']} is not supported — use sku_daily or sku_location_daily"
        )
    paths, registered = config["paths"], gran["registered_model"]
    tables_dir = paths["tables"]
    forecast_path = outputs.path(paths, "forecast", registered=registered)
    forecast = outputs.read(paths, "forecast", registered=registered)  # same granularity
    panel, static, demand_fp = demand(store, config["features"], gran)
    catalog = store.get(CatalogSet())
    inventory = read_inventory(tables_dir)
    terms = read_supply_terms(pcfg["supply_terms"]) if pcfg.get("supply_terms") else None
    log.info(
        "planning %d series from %s (forecast from %s)",
        forecast[C.UNIQUE_ID].nunique(),
        forecast_path.name,
        pd.Timestamp(forecast[C.DS].min()).date(),
    )
    plan = make_plan(
        forecast,
        panel,
        catalog.read("items"),
        catalog.read("locations"),
        inventory,
        terms,
        pcfg,
        gran["level"],
        source=str(forecast_path),
    )
    sim_table, sim, sim_dates = None, {}, None
    if pcfg["simulation"]["enabled"]:
        name = pcfg["simulation"]["forecaster"]
        fcfg = config["forecast"]
        make = model_factories(fcfg, [name], "D", fcfg["quantiles"])[name]
        value = pd.Series(plan.unit_value, index=plan.keys[C.UNIQUE_ID].to_numpy())
        # the replay's own forecaster sets rho: a model of period sums joins its days with 1
        sums = forecasts_period_sums(fcfg["models"], name)
        spec = replace(plan.spec, rho=1.0 if sums else float(pcfg["rho"]))
        sim_table, sim, sim_dates = simulate_history(
            panel, static, make, plan.classes, value, pcfg, spec, gran["known_covariates"]
        )
    inputs = combine(
        demand_fp, catalog.fingerprint, fingerprint([forecast_path]), inventory_fp(tables_dir)
    )
    lineage = {"features": inputs, "forecast": outputs.lineage(paths, "forecast",
                                                                 registered=registered)}  # fmt: skip
    files, figs = write_plan(paths, plan, sim_table, sim, sim_dates, pcfg, forecast_path, lineage)
    print(
        terminal_summary(plan.suggestions, plan.transfers, sim_table, int(pcfg["report_top_n"])),
        flush=True,
    )
    run_id = track(config, plan, sim_table, sim, files, inputs)
    output = Path(paths["plans"])
    log.info(
        "plan written to %s in %.1f s (MLflow run %s)", output, time.perf_counter() - t0, run_id
    )
    return {
        "suggestions": plan.suggestions,
        "transfers": plan.transfers,
        "simulation": sim_table,
        "newsvendor": plan.newsvendor,
        "run_id": run_id,
        "output": str(output),
    }


def inventory_fp(tables_dir: str | Path) -> str:
    return fingerprint(table_files(tables_dir, "inventory") or [])


def write_plan(paths: Mapping, plan: Plan, sim_table, sim, sim_dates, pcfg, forecast_path,
               lineage: Mapping):  # fmt: skip
    """Tables (Parquet + CSV, moved into place together), simulation evidence, report."""
    out = Path(paths["plans"])
    frames = {"suggestions": plan.suggestions, "transfers": plan.transfers}
    if plan.newsvendor is not None:
        frames["newsvendor"] = plan.newsvendor
    written = outputs.write_group(paths, "plan", frames, lineage)
    files = [f for p in written.values() for f in (p, p.with_suffix(".csv"))]
    figs = {}
    if sim_table is not None:
        sim_path = outputs.write(paths, "plan_simulation", sim_table, lineage)
        files.append(outputs.csv_path(paths, "plan_simulation"))
        files.append(sim_path)
        days = pcfg["simulation"]["window_days"]
        figs["tradeoff.png"] = tradeoff(
            sim_table,
            f"{len(plan.keys)} series, policies replayed on the last {days} days (lost sales)",
        )
        shown = {
            n: r.daily for n, r in list(sim.items())[: int(pcfg["simulation"]["plot_policies"])]
        }
        figs["stock_over_time.png"] = stock_over_time(shown, sim_dates, "stock value per day")
    for name, fig in figs.items():
        fig.savefig(out / name, dpi=110)
        files.append(out / name)
    report = out / "report.html"
    report.write_text(
        html_report(
            plan.suggestions,
            plan.transfers,
            sim_table,
            out / "tradeoff.png" if figs else None,
            pcfg,
            forecast_path,
        )
    )
    files.append(report)
    return files, figs


def track(config: Mapping, plan: Plan, sim_table, sim, files, fingerprint: str) -> str:
    spec = TaskSpec.from_config(config["tasks"]["policy"])
    tcfg = config["tracking"]
    configure(tcfg["uri"], spec.experiment, tcfg["artifact_root"])
    table, transfers = plan.suggestions, plan.transfers
    with mlflow.start_run(run_name=f"plan-{config['policy']['kind']}") as run:
        log_context(config, fingerprint, {"task": spec.name})
        mlflow.set_tag(
            "mlflow.note.content",
            "Reorder suggestions from the champion forecast; nested runs replay each "
            "configured policy on recent history (fill rate vs days of cover).",
        )
        mlflow.log_metrics(
            {
                "plan/rows": len(table),
                "plan/orders": int((table["order_qty"] > 0).sum()),
                "plan/order_units": float(table["order_qty"].sum()),
                "plan/order_value": float(table["order_value"].sum()),
                "plan/transfers": len(transfers),
                "plan/transfer_units": float(transfers["qty"].sum()) if len(transfers) else 0.0,
                "plan/expected_fill_rate_mean": float(table["expected_fill_rate"].mean()),
            }
        )
        for f in files:
            if f.suffix != ".parquet":
                mlflow.log_artifact(str(f), artifact_path="plan")
        if sim_table is not None:
            for r in sim_table.itertuples(index=False):
                with mlflow.start_run(run_name=r.policy, nested=True):
                    mlflow.set_tags(
                        {
                            "policy": r.policy,
                            "policy_type": r.type,
                            "task": spec.name,
                            "data_fingerprint": fingerprint,
                            "mlflow.note.content": f"{r.policy} ({r.type}) replayed day by day on "
                            "actual demand with weekly re-forecasts: fill rate vs days of cover; "
                            f"per-series results in {spec.evidence.artifact}.",
                        }
                    )
                    mlflow.log_metrics({f"sim/{k}": float(getattr(r, k)) for k in KPI_COLUMNS})
                    # per series, so two policies can be compared with a paired bootstrap
                    mlflow.log_table(sim[r.policy].per_series, artifact_file=spec.evidence.artifact)
        return run.info.run_id


def run_plan(config: Mapping) -> dict:
    """`make plan`: the plan from the champion's forecast, features and stock."""
    paths = config["paths"]
    return plan_inventory(
        config, open_store(config["features"], paths["features"], paths["tables"])
    )
