"""The planning step without Hydra: champion forecast + stock -> suggestions, evidence, report.

``plan_inventory`` reads the champion's forecast written by the forecasting step, the canonical
tables (history, inventory, locations, products) and an optional supply-terms file, and writes

* ``suggestions.parquet`` / ``.csv`` — one row per location x SKU (DESIGN.md contract + reasons);
* ``transfers.parquet`` / ``.csv`` — stock to move between locations before buying;
* ``newsvendor.parquet`` — one-shot season buys, when enabled;
* ``simulation.csv`` + ``tradeoff.png`` — the configured policies replayed on recent history;
* ``report.html`` — top actions, class mix, the fill-rate / stock trade-off chart;

logs all of it to the MLflow experiment ``policy`` (one parent run, one nested run per simulated
policy) and prints a summary table.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from src.features import columns as C
from src.features.panel import ID_SEPARATOR
from src.features.tables import CanonicalTables, fingerprint, read_tables, write_frames
from src.features.validation import DataValidationError
from src.forecast.factory import build
from src.forecast.pipeline import task_from_tables
from src.policy.classify import class_service_levels, classify, cost_service_levels
from src.policy.demand import daily_paths, forecast_arrays, horizon_needed, period_demand
from src.policy.evaluate import (
    KPI_COLUMNS,
    compare,
    history_from_panel,
    kpi_table,
    rolling_forecasts,
)
from src.policy.levels import PolicySpec, policy_levels, protection_samples
from src.policy.plots import stock_over_time, tradeoff
from src.policy.policies import critical_ratio, newsvendor_quantity
from src.policy.report import html_report, terminal_summary
from src.policy.simulate import SimSettings
from src.policy.suggest import SUGGESTION_COLUMNS, plan_transfers, suggestions
from src.tracking import configure, log_context

log = logging.getLogger(__name__)
EXPERIMENT = "policy"
TERMS_COLUMNS = ("moq", "case_pack", "lead_time_days", "lead_time_std", "unit_cost")


def plan_inventory(
    config: Mapping, tables_dir: str | Path, forecasts_dir: str | Path, output: str | Path
) -> dict:
    t0 = time.perf_counter()
    pcfg, gran = config["policy"], config["granularity"]
    if gran["level"] not in ("sku", "sku_location") or gran["freq"] != "D":
        raise ValueError(
            f"plan_inventory plans SKU (x location) stock from daily forecasts; granularity "
            f"{gran['level']}/{gran['freq']} is not supported — use sku_daily or sku_location_daily"
        )
    spec = policy_spec(pcfg)
    forecast_path = Path(forecasts_dir) / f"{gran['registered_model']}.parquet"
    if not forecast_path.exists():
        raise FileNotFoundError(
            f"{forecast_path}: no champion forecast; run `python -m pipelines.train_forecast` "
            f"(same granularity) first"
        )
    forecast = pd.read_parquet(forecast_path)
    task = task_from_tables(tables_dir, gran, config.get("holiday_country"), config)
    tables = read_tables(tables_dir)
    ids, dates, mean, q, levels = forecast_arrays(forecast)
    keys = split_ids(ids, gran["level"], pcfg["network_location"])
    log.info(
        "planning %d location x SKU rows from %s (forecast from %s)",
        len(keys),
        forecast_path.name,
        dates[0].date(),
    )

    classes = classify(
        task.panel,
        pcfg["classes"]["abc"],
        pcfg["classes"]["xyz"],
        pcfg["classes"]["lookback_days"],
        pcfg["classes"]["xyz_freq"],
    )
    keys = keys.merge(
        classes[[C.UNIQUE_ID, "abc_class", "xyz_class", "abc_xyz"]], on=C.UNIQUE_ID, how="left"
    )
    keys["abc_class"] = keys["abc_class"].fillna("C")
    keys["xyz_class"] = keys["xyz_class"].fillna("Z")
    keys["abc_xyz"] = keys["abc_class"] + keys["xyz_class"]

    terms = supply_terms(keys, tables, pcfg)
    value = unit_values(keys, task.panel, tables)
    sl = service_levels(keys, value, pcfg, spec)
    need = horizon_needed(
        terms["lead_time_days"].max(),
        spec.review_period if spec.kind == "RS" else 0,
        terms["lead_time_std"].max(),
    )
    if need > mean.shape[1]:
        raise ValueError(
            f"{forecast_path}: forecast covers {mean.shape[1]} days, the policy needs {need} "
            f"(lead time + review period + 3 sd); raise granularity.horizon"
        )
    if pcfg["newsvendor"]["enabled"] and int(pcfg["newsvendor"]["season_days"]) > mean.shape[1]:
        raise ValueError(
            f"policy.newsvendor.season_days={pcfg['newsvendor']['season_days']} exceeds the "
            f"forecast horizon of {mean.shape[1]} days ({forecast_path})"
        )
    lt = terms["lead_time_days"].to_numpy(float)
    lt_std = float(terms["lead_time_std"].max())
    spec.lead_time_std = lt_std
    samples = protection_samples(q, levels, lt, spec)
    lv = policy_levels(mean, q, levels, sl, lt, spec, value, samples)
    position = positions(keys, tables, pcfg)
    table = suggestions(
        keys[[C.LOCATION_ID, C.SKU, "abc_class", "xyz_class"]],
        lv,
        position,
        spec.kind,
        sl,
        lt,
        terms["moq"].to_numpy(float),
        terms["case_pack"].to_numpy(float),
        value,
    )
    table = flag_for_review(table, keys, task.panel, float(pcfg["review_ratio"]))
    transfers = pd.DataFrame()
    if pcfg["transfers"]["enabled"]:
        table, transfers = plan_transfers(table, float(pcfg["transfers"]["excess_days"]))
    table.insert(len(SUGGESTION_COLUMNS), "as_of", dates[0] - pd.Timedelta(days=1))

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    files = write_tables(out, {"suggestions": table, "transfers": transfers})
    nv = None
    if pcfg["newsvendor"]["enabled"]:
        nv = newsvendor(keys, q, levels, value, pcfg["newsvendor"], spec)
        files += write_tables(out, {"newsvendor": nv})

    sim_table, sim, figs = None, {}, {}
    if pcfg["simulation"]["enabled"]:
        sim_table, sim, sim_dates = simulate_history(task, classes, value, keys, pcfg, spec, config)
        sim_table.to_csv(out / "simulation.csv", index=False)
        files.append(out / "simulation.csv")
        days = pcfg["simulation"]["window_days"]
        figs["tradeoff.png"] = tradeoff(
            sim_table, f"{len(keys)} series, policies replayed on the last {days} days (lost sales)"
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
            table, transfers, sim_table, out / "tradeoff.png" if figs else None, pcfg, forecast_path
        )
    )
    files.append(report)
    summary = terminal_summary(table, transfers, sim_table, int(pcfg["report_top_n"]))
    print(summary, flush=True)
    run_id = track(config, table, transfers, sim_table, sim, files, figs, tables_dir, forecast_path)
    log.info("plan written to %s in %.1f s (MLflow run %s)", out, time.perf_counter() - t0, run_id)
    return {
        "suggestions": table,
        "transfers": transfers,
        "simulation": sim_table,
        "newsvendor": nv,
        "run_id": run_id,
        "output": str(out),
    }


def flag_for_review(
    table: pd.DataFrame, keys: pd.DataFrame, panel: pd.DataFrame, ratio: float
) -> pd.DataFrame:
    """``review_flag``: why a planner should look before acting (empty when nothing stands out).

    * ``no stock record`` — on hand was taken as 0;
    * ``level above history`` — the order-up-to level exceeds ``ratio`` x the largest demand
      over the same number of days in the last year (a forecast spike, or a trend break).
    """
    days = max(int(np.median(table["protection_days"])), 1)
    recent = panel[panel[C.DS] > panel[C.DS].max() - pd.Timedelta(days=365)]
    peak = (
        recent.sort_values([C.UNIQUE_ID, C.DS])
        .groupby(C.UNIQUE_ID)[C.Y]
        .rolling(days, min_periods=1)
        .sum()
        .groupby(level=0)
        .max()
    )
    peak = keys[C.UNIQUE_ID].map(peak).fillna(0.0).to_numpy(float)
    flags = []
    for known, level, p in zip(table["inventory_known"], table["order_up_to"], peak, strict=True):
        f = [] if known else ["no stock record"]
        if level > ratio * max(p, 1.0):
            f.append(
                f"level above history (S {level:.0f} > {ratio:g} x peak {days}-day demand {p:.0f})"
            )
        flags.append("; ".join(f))
    out = table.copy()
    out["review_flag"] = flags
    return out


def policy_spec(pcfg: Mapping) -> PolicySpec:
    return PolicySpec(
        kind=pcfg["kind"],
        review_period=int(pcfg["review_period"]),
        lead_time_std=float(pcfg["lead_time_std"]),
        rho=float(pcfg["rho"]),
        draws=int(pcfg["draws"]),
        seed=int(pcfg["seed"]),
        lot_size_days=float(pcfg["lot_size_days"]),
        order_cost=float(pcfg["order_cost"]),
        holding_rate=float(pcfg["holding_rate"]),
    )


def split_ids(ids: np.ndarray, level: str, network_location: str) -> pd.DataFrame:
    """``unique_id`` -> ``location_id, sku`` (``SKU@location``; SKU-level ids get the network)."""
    ids = pd.Series(ids, dtype="string")
    if level == "sku_location":
        parts = ids.str.rsplit(ID_SEPARATOR, n=1, expand=True)
        sku, loc = parts[0], parts[1]
    else:
        sku, loc = ids, pd.Series(network_location, index=ids.index, dtype="string")
    return pd.DataFrame({C.UNIQUE_ID: ids, C.LOCATION_ID: loc, C.SKU: sku})


def supply_terms(keys: pd.DataFrame, tables: CanonicalTables, pcfg: Mapping) -> pd.DataFrame:
    """MOQ, case pack, lead time (mean, sd) per row: terms file > locations table > defaults."""
    t = pd.DataFrame(index=keys.index)
    t["moq"] = float(pcfg["moq"])
    t["case_pack"] = float(pcfg["case_pack"])
    t["lead_time_std"] = float(pcfg["lead_time_std"])
    lt = (
        keys[C.LOCATION_ID].map(tables.locations.set_index(C.LOCATION_ID)[C.LEAD_TIME_DAYS])
        if len(tables.locations)
        else pd.Series(np.nan, index=keys.index)
    )
    t["lead_time_days"] = (
        pd.to_numeric(lt, errors="coerce").fillna(float(pcfg["lead_time_days"])).to_numpy()
    )
    path = pcfg.get("supply_terms")
    if path:
        terms = read_supply_terms(Path(path))
        on = [C.SKU, C.LOCATION_ID] if C.LOCATION_ID in terms else [C.SKU]
        m = keys[on].astype(str).merge(terms.astype({c: str for c in on}), on=on, how="left")
        for col in TERMS_COLUMNS:
            if col in m and col != "unit_cost":
                t[col] = m[col].fillna(t[col]).to_numpy(float)
    t["case_pack"] = t["case_pack"].clip(lower=1)
    return t


def read_supply_terms(path: Path) -> pd.DataFrame:
    """Supply terms CSV/Parquet: ``sku`` [, ``location_id``] and any of MOQ, case pack, lead times."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: supply terms file not found (policy.supply_terms)")
    df = (
        pd.read_parquet(path)
        if path.suffix == ".parquet"
        else pd.read_csv(path, dtype={C.SKU: str})
    )
    if C.SKU not in df:
        raise DataValidationError(
            path, "required_column", f"missing; columns found: {list(df.columns)}", column=C.SKU
        )
    for col in TERMS_COLUMNS:
        if col not in df:
            continue
        v = pd.to_numeric(df[col], errors="coerce")
        bad = df[v.isna() | (v < 0)]
        if len(bad):
            raise DataValidationError(
                path,
                "non_negative_number",
                f"must be a non-negative number; {len(bad)} row(s) break it",
                column=col,
                examples=bad,
            )
        df[col] = v
    dup = df.duplicated([c for c in (C.SKU, C.LOCATION_ID) if c in df], keep=False)
    if dup.any():
        raise DataValidationError(
            path,
            "unique_key",
            "one row per sku (x location) expected",
            column=C.SKU,
            examples=df[dup],
        )
    return df


def unit_values(keys: pd.DataFrame, panel: pd.DataFrame, tables: CanonicalTables) -> np.ndarray:
    """Unit value for stock: product unit cost where known, else the median sale price."""
    cost = (
        keys[C.SKU].map(tables.products.set_index(C.SKU)[C.UNIT_COST])
        if len(tables.products)
        else None
    )
    price = (
        panel.groupby(C.UNIQUE_ID)[C.PRICE].median() if C.PRICE in panel else pd.Series(dtype=float)
    )
    v = keys[C.UNIQUE_ID].map(price).astype(float)
    if cost is not None:
        v = pd.to_numeric(cost, errors="coerce").astype(float).where(lambda x: x > 0).fillna(v)
    fill = float(np.nanmedian(v)) if v.notna().any() else 1.0
    return v.fillna(fill).to_numpy(float)


def service_levels(
    keys: pd.DataFrame, value: np.ndarray, pcfg: Mapping, spec: PolicySpec
) -> np.ndarray:
    sl = pcfg["service_level"]
    if sl["mode"] == "class":
        return class_service_levels(keys, sl["targets"], sl.get("overrides") or None)
    if sl["mode"] == "cost":
        return cost_service_levels(
            value, float(sl["shortage_cost"]), spec.holding_rate, spec.review_period
        )
    level = float(sl["mode"])
    if not 0 < level < 1:
        raise ValueError(
            f"policy.service_level.mode must be class, cost or a number in (0, 1); got {level}"
        )
    return np.full(len(keys), level)


def positions(keys: pd.DataFrame, tables: CanonicalTables, pcfg: Mapping) -> pd.DataFrame:
    """Latest stock record per location x SKU; SKU-level plans sum every location's stock."""
    inv = tables.inventory
    out = pd.DataFrame(
        {"on_hand": 0.0, "on_order": 0.0, "backorders": 0.0, "inventory_known": False},
        index=keys.index,
    )
    if len(inv) == 0:
        log.warning(
            "no inventory records: on hand taken as 0 for all %d rows — load an inventory snapshot "
            "(see README, 'Inventory input') for suggestions against real stock",
            len(keys),
        )
        return out
    latest = inv.sort_values(C.AS_OF).groupby([C.LOCATION_ID, C.SKU], as_index=False).last()
    if (keys[C.LOCATION_ID] == pcfg["network_location"]).all():
        latest = latest.groupby(C.SKU, as_index=False)[[C.ON_HAND, C.ON_ORDER]].sum()
        m = keys[[C.SKU]].merge(latest, on=C.SKU, how="left", indicator=True)
    else:
        m = keys[[C.LOCATION_ID, C.SKU]].merge(
            latest, on=[C.LOCATION_ID, C.SKU], how="left", indicator=True
        )
    out["on_hand"] = m[C.ON_HAND].fillna(0.0).to_numpy(float)
    out["on_order"] = m[C.ON_ORDER].fillna(0.0).to_numpy(float)
    out["backorders"] = m["backorders"].fillna(0.0).to_numpy(float) if "backorders" in m else 0.0
    out["inventory_known"] = (m["_merge"] == "both").to_numpy()
    unknown = int((~out["inventory_known"]).sum())
    if unknown:
        log.warning(
            "%d of %d location x SKU rows have no stock record: on hand taken as 0",
            unknown,
            len(keys),
        )
    return out


def newsvendor(keys, q, levels, value, ncfg: Mapping, spec: PolicySpec) -> pd.DataFrame:
    """One-shot season buy per row: the critical-ratio quantile of demand over ``season_days``."""
    days = int(ncfg["season_days"])
    price = value * float(ncfg["price_over_value"])
    ratio = critical_ratio(
        price, value, value * float(ncfg["salvage_share"]), float(ncfg["shortage_penalty"])
    )
    season = period_demand(daily_paths(q, levels, spec.draws, spec.rho, spec.seed), days)
    out = keys[[C.LOCATION_ID, C.SKU]].copy()
    out["season_days"] = days
    out["critical_ratio"] = ratio
    out["expected_demand"] = season.mean(axis=1)
    out["buy_qty"] = np.ceil(newsvendor_quantity(season, ratio))
    return out


def simulate_history(task, classes, value, keys, pcfg, spec, config):
    """Replay the configured policies over the last ``window_days`` with weekly re-forecasts."""
    scfg = pcfg["simulation"]
    days = int(scfg["window_days"])
    last = task.panel[C.DS].max()
    start = last - pd.Timedelta(days=days - 1)
    value_s = pd.Series(value, index=keys[C.UNIQUE_ID].to_numpy())
    lt = float(pcfg["lead_time_days"])
    hist = history_from_panel(task.panel, start, days, lt, spec.review_period, value_s)
    models = config["forecast"]["models"]
    name = scfg["forecaster"]
    fc = rolling_forecasts(
        task.panel,
        task.static,
        lambda: build(name, models, "D", config["forecast"]["quantiles"]),
        hist,
        horizon_needed(lt, spec.review_period, spec.lead_time_std),
        task.spec.known_covariates,
    )
    settings = SimSettings(
        lead_time=lt,
        review_period=spec.review_period,
        lost_sales=bool(scfg["lost_sales"]),
        lead_time_std=spec.lead_time_std,
        seed=spec.seed,
    )
    res = compare(
        scfg["policies"], hist, fc, spec, settings, classes, pcfg["service_level"]["targets"]
    )
    return kpi_table(res), res, hist.dates[hist.start : hist.start + days]


def write_tables(out: Path, frames: Mapping[str, pd.DataFrame]) -> list[Path]:
    """Parquet + CSV per table, all moved into place together (the ingest layer's atomic writer)."""
    csv = {f"{name}.csv": df.to_csv(index=False) for name, df in frames.items()}
    write_frames(out, frames, extra=csv)
    return [out / f"{name}.{ext}" for name in frames for ext in ("parquet", "csv")]


def track(config, table, transfers, sim_table, sim, files, figs, tables_dir, forecast_path) -> str:
    tcfg = config["tracking"]
    configure(tcfg["uri"], EXPERIMENT, tcfg["artifact_root"])
    data_files = sorted(Path(tables_dir).glob("*.parquet")) + [Path(forecast_path)]
    with mlflow.start_run(run_name=f"plan-{config['policy']['kind']}") as run:
        log_context(config, fingerprint(data_files))
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
                            "mlflow.note.content": f"{r.policy} ({r.type}) replayed day by day on "
                            "actual demand with weekly re-forecasts: fill rate vs days of cover; "
                            "per-series results in per_series_kpis.json.",
                        }
                    )
                    mlflow.log_metrics({f"sim/{k}": float(getattr(r, k)) for k in KPI_COLUMNS})
                    # per series, so two policies can be compared with a paired bootstrap
                    mlflow.log_table(sim[r.policy].per_series, artifact_file="per_series_kpis.json")
        return run.info.run_id
