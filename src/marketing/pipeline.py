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

import mlflow
import numpy as np
import pandas as pd

from src import outputs
from src.features import columns as C
from src.features import tables as TB
from src.features.sets import customer_set, open_store
from src.features.tables import read_table
from src.marketing import audiences as AU
from src.marketing import campaigns as K
from src.marketing import clv
from src.marketing import uplift as UP
from src.tracking import TaskSpec
from src.tracking.runs import configure

log = logging.getLogger(__name__)
# what measure_campaigns returns under each key -> the output it is written as
CAMPAIGN_OUTPUTS = {"results": "campaign_results", "power": "campaign_power",
                    "uplift": "uplift_studies", "qini_curves": "qini_curves",
                    "next_targets": "next_targets", "not_measured": "campaigns_not_measured"}  # fmt: skip


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
    tracking, spec = config["tracking"], TaskSpec.from_config(config["tasks"]["clv"])
    configure(tracking["uri"], spec.experiment, tracking["artifact_root"])
    with mlflow.start_run(run_name=f"clv {cfg['model']}") as run:
        mlflow.set_tags({"task": spec.name, "model": cfg["model"]})
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
        mlflow.log_table(clv.holdout_errors(models, cal), spec.evidence.artifact)
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
        path = outputs.write(paths, "clv", values, {"run_id": run.info.run_id})
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
    values = outputs.read_if_exists(paths, "clv")
    if values is None:
        log.warning("no CLV yet (%s): CLV conditions match nobody; run `make clv`",
                    outputs.path(paths, "clv"))  # fmt: skip
    recs = outputs.read_if_exists(paths, "recommendations")
    tables = paths["tables"]
    tx = read_table(tables, "transactions",
                    [C.CUSTOMER_ID, C.SKU, C.QTY, C.UNIT_PRICE, C.LINE_TYPE, C.TS])  # fmt: skip
    prof = AU.profile(rfm, aipl, values, tx, read_table(tables, "products"))
    as_of = pd.Timestamp(cfg["as_of"]) if cfg.get("as_of") else tx[C.TS].max().normalize()
    bis = cfg["back_in_stock"]
    events = read_table(tables, "events") if TB.table_files(tables, "events") else None
    wanted, restocked = AU.back_in_stock(
        read_table(tables, "inventory"), events, tx, as_of, int(bis["lookback_days"]),
        int(bis["interest_days"]), tuple(bis["interest_events"]), bool(bis["purchases"]),
    )  # fmt: skip
    browsers = wanted.index.difference(prof[C.CUSTOMER_ID])  # wanted it, never bought yet
    if len(browsers):
        prof = pd.concat([prof, pd.DataFrame({C.CUSTOMER_ID: browsers})], ignore_index=True)
    prof[AU.RESTOCKED] = prof[C.CUSTOMER_ID].map(wanted)
    contacts = outputs.read_if_exists(paths, "contacts")
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
    folder = outputs.write(paths, "audiences", audiences).parent  # + one CSV per audience
    outputs.write(paths, "audience_report", report)
    outputs.write(paths, "restocked_skus", restocked)
    if contacts is not None:  # a rerun for the same day replaces that day's sends
        contacts = contacts[pd.to_datetime(contacts[AU.AS_OF]) != as_of]
    log_rows = audiences[[AU.AUDIENCE, AU.AS_OF, C.CUSTOMER_ID, AU.GROUP]]
    updated = (
        pd.concat([contacts, log_rows], ignore_index=True) if contacts is not None else log_rows
    )
    outputs.write(paths, "contacts", updated)
    seconds = time.perf_counter() - t
    log.info("audiences on %s: %d customers in %d audiences (%.1f s) -> %s", as_of.date(),
             len(audiences), audiences[AU.AUDIENCE].nunique(), seconds, folder)  # fmt: skip
    return {"rows": len(audiences), "report": report, "seconds": seconds, "path": str(folder)}


def _audience_sends(paths: Mapping, cfg: Mapping) -> tuple[pd.DataFrame, pd.DataFrame]:
    """retail-brain's own audience sends (the ``contacts`` output) as campaigns: one per audience
    and day, its window the ``window_days`` after the send, its cost ``cost_per_contact``."""
    contacts = outputs.read_if_exists(paths, "contacts") if cfg.get("enabled") else None
    if contacts is None:
        return TB.empty("campaigns"), TB.empty("campaign_members")
    day = pd.to_datetime(contacts[AU.AS_OF]).dt.normalize()
    cid = contacts[AU.AUDIENCE].astype(str) + "@" + day.dt.strftime("%Y-%m-%d")
    members = pd.DataFrame({C.CAMPAIGN_ID: cid, C.CUSTOMER_ID: contacts[C.CUSTOMER_ID].astype(str),
                            C.GROUP: contacts[AU.GROUP], C.SOURCE: "audiences"})  # fmt: skip
    first = pd.DataFrame({C.CAMPAIGN_ID: cid, "audience": contacts[AU.AUDIENCE], "day": day})
    first = first.drop_duplicates(C.CAMPAIGN_ID)
    n_treated = members[members[C.GROUP] == C.GROUP_TREATED].groupby(C.CAMPAIGN_ID).size()
    camp = pd.DataFrame({
        C.CAMPAIGN_ID: first[C.CAMPAIGN_ID], C.CAMPAIGN_TYPE: first["audience"],
        C.CHANNEL: "audience", C.START: first["day"] + pd.Timedelta(days=1),
        C.END: first["day"] + pd.Timedelta(days=int(cfg["window_days"])),
        C.COST: first[C.CAMPAIGN_ID].map(n_treated).fillna(0).to_numpy()
        * float(cfg["cost_per_contact"]),
        C.SOURCE: "audiences",
    })  # fmt: skip
    return TB.conform("campaigns", camp), TB.conform("campaign_members", members)


def run_measure(config: Mapping) -> dict:
    """`python -m pipelines.measure_campaigns`: every campaign whose window has closed in the data
    is measured (conf/measure); results, power tables, uplift studies and next targets are
    written to ``<marketing>/campaigns/`` and tracked in the MLflow experiment ``campaigns``."""
    cfg, paths = config["measure"], config["paths"]
    tables = paths["tables"]
    t0 = time.perf_counter()
    campaigns = read_table(tables, "campaigns") if TB.table_files(tables, "campaigns") else None
    members = (
        read_table(tables, "campaign_members")
        if TB.table_files(tables, "campaign_members")
        else None
    )
    out_dir = outputs.path(paths, "campaign_results").parent
    own, own_members = _audience_sends(paths, cfg["audience_sends"])
    parts = [c for c in (campaigns, own) if c is not None and len(c)]
    if not parts:
        log.warning("no campaigns in %s and no audience sends: nothing to measure (map campaign "
                    "files with data.campaigns, see conf/data/generic.yaml)", tables)  # fmt: skip
        return {"campaigns": 0, "measured": 0}
    campaigns = pd.concat(parts, ignore_index=True)
    members = pd.concat([m for m in (members, own_members) if m is not None and len(m)],
                        ignore_index=True)  # fmt: skip
    alpha, attribution = float(cfg["alpha"]), int(cfg["attribution_days"])
    data_end = read_table(tables, "transactions", [C.TS])[C.TS].max().normalize()
    ready, skipped = [], []
    for camp in campaigns.to_dict("records"):  # what can be measured, before reading the lines
        cid = camp[C.CAMPAIGN_ID]
        n_t = int(((members[C.CAMPAIGN_ID] == cid) & (members[C.GROUP] == C.GROUP_TREATED)).sum())
        window_end = pd.Timestamp(camp[C.END]) + pd.Timedelta(days=attribution)
        why = None
        if window_end > data_end:
            why = f"window ends {window_end.date()}, data ends {data_end.date()}"
        elif n_t < int(cfg["min_treated"]):
            why = f"{n_t} treated customers < measure.min_treated={cfg['min_treated']}"
        if why:
            skipped.append({C.CAMPAIGN_ID: cid, "reason": why})
            log.info("campaign %s not measured: %s", cid, why)
        else:
            ready.append(camp)
    results, powers, studies, curves, targets = [], [], [], [], []
    if ready:
        tx = read_table(tables, "transactions")
        events = read_table(tables, "events") if TB.table_files(tables, "events") else None
        lines = K.line_values(tx, read_table(tables, "products"), float(cfg["margin_rate"]))
        costed_share = float(lines["costed"].mean()) if len(lines) else 0.0
        channels = sorted(map(str, tx[C.CHANNEL].dropna().unique()))[:8]
        customers = pd.Index(lines[C.CUSTOMER_ID].unique())
        del tx
        tracking = config["tracking"]
        spec = TaskSpec.from_config(config["tasks"]["campaigns"])
        configure(tracking["uri"], spec.experiment, tracking["artifact_root"])
    now = None
    for camp in ready:
        cid = camp[C.CAMPAIGN_ID]
        mem = members[members[C.CAMPAIGN_ID] == cid]
        row, frame = K.measure(camp, mem, lines, events, customers, channels, cfg, costed_share)
        results.append(row)
        power = K.power_table(frame, cfg["power"]["lifts"], float(cfg["power"]["holdout_share"]),
                              alpha, float(cfg["power"]["power"]))  # fmt: skip
        powers.append(power.assign(**{C.CAMPAIGN_ID: cid}))
        study = None
        if (
            row["method"] == K.RANDOMISED
            and cfg["uplift"]["enabled"]
            and len(frame) >= int(cfg["uplift"]["min_members"])
        ):
            if now is None:  # every customer as of the data's end: whom to target next
                now = UP.features(lines, events, customers, data_end + pd.Timedelta(days=1),
                                  channels)  # fmt: skip
            study, next_targets = _uplift(cfg["uplift"], camp, frame, lines, events, channels, now)
            studies.append({C.CAMPAIGN_ID: cid, "chosen": study["chosen"],
                            **{f"validation_qini/{k}": v for k, v in study["validation"].items()},
                            **{f"test_qini/{k}": v for k, v in study["test"].items()},
                            "n_train": study["n_train"], "n_test": study["n_test"]})  # fmt: skip
            curves.append(study["curves"].assign(**{C.CAMPAIGN_ID: cid}))
            targets.append(next_targets)
        _track(row, power, study)
        log.info("%s (%s): revenue %+.2f per customer [%+.2f, %+.2f], p=%.3f; ROI %.2f [%.2f, "
                 "%.2f] — %s", cid, row["method"].split(":")[0], row["revenue_per_customer"],
                 row["revenue_lo"], row["revenue_hi"], row["revenue_p"], row["roi"],
                 row["roi_lo"], row["roi_hi"], row["verdict"])  # fmt: skip
    written = {
        "results": pd.DataFrame(results),
        "power": pd.concat(powers, ignore_index=True) if powers else pd.DataFrame(),
        "uplift": pd.DataFrame(studies),
        "qini_curves": pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(),
        "next_targets": pd.concat(targets, ignore_index=True) if targets else pd.DataFrame(),
        "not_measured": pd.DataFrame(skipped, columns=[C.CAMPAIGN_ID, "reason"]),
    }
    for name, frame in written.items():
        outputs.write(paths, CAMPAIGN_OUTPUTS[name], frame)
    seconds = time.perf_counter() - t0
    log.info("measured %d of %d campaigns in %.1f s -> %s", len(results), len(campaigns), seconds,
             out_dir)  # fmt: skip
    return {"campaigns": len(campaigns), "measured": len(results), "seconds": seconds,
            "path": str(out_dir), **written}  # fmt: skip


def _uplift(cfg, camp, frame, lines, events, channels, now: pd.DataFrame):
    """Uplift study on one randomised campaign, then the chosen learner refitted on all its
    members scores every customer (``now``: features as of the data's end), best first."""
    feats = UP.features(lines, events, frame.index, camp[C.START], channels)
    y = frame[cfg["outcome"]].to_numpy(float)
    if cfg["outcome"] == K.CONVERTED:
        y = (y > 0).astype(float)
    study = UP.uplift_study(feats, frame[K.TREATMENT].to_numpy(), y, cfg["learners"],
                            seed=int(cfg["seed"]), test_share=float(cfg["test_share"]),
                            folds=int(cfg["folds"]), params=cfg["lgbm"])  # fmt: skip
    score = UP.fit_predict(study["chosen"], feats.to_numpy(float), frame[K.TREATMENT].to_numpy(),
                           y, now.to_numpy(float), int(cfg["seed"]), cfg["lgbm"])  # fmt: skip
    ranked = pd.DataFrame({C.CUSTOMER_ID: now.index, "uplift": score})
    ranked = ranked.sort_values("uplift", ascending=False, kind="stable", ignore_index=True)
    ranked["rank"] = np.arange(1, len(ranked) + 1)
    ranked[C.CAMPAIGN_ID] = camp[C.CAMPAIGN_ID]
    ranked[C.CAMPAIGN_TYPE] = camp[C.CAMPAIGN_TYPE]
    ranked["model"] = study["chosen"]
    return study, ranked.head(int(cfg["top_targets"]))


def _track(row: Mapping, power: pd.DataFrame, study: Mapping | None) -> None:
    with mlflow.start_run(run_name=f"campaign {row[C.CAMPAIGN_ID]}"):
        mlflow.set_tags({"method": row["method"], "verdict": row["verdict"]})
        mlflow.log_params({k: str(row[k]) for k in (C.CAMPAIGN_ID, C.CAMPAIGN_TYPE, C.CHANNEL,
                                                     C.START, C.END, "cost_source", "margin")})  # fmt: skip
        numeric = {k: float(v) for k, v in row.items()
                   if isinstance(v, int | float | np.number) and np.isfinite(v)}  # fmt: skip
        mlflow.log_metrics(numeric)
        mlflow.log_table(power, "power.json")
        if study is not None:
            mlflow.set_tag("uplift_model", study["chosen"])
            mlflow.log_metrics({f"uplift/validation_qini/{k}": v
                                for k, v in study["validation"].items()})  # fmt: skip
            mlflow.log_metrics({f"uplift/test_qini/{k}": v for k, v in study["test"].items()})
            mlflow.log_figure(UP.qini_plot(study["curves"], str(row[C.CAMPAIGN_ID])),
                              "plots/qini.png")  # fmt: skip
