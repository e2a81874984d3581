"""`make bench-recsys DATASET=online_retail|synthetic_taste|synthetic_grocery` or `DATA=DIR CUTOFF=… END=…`.

Online Retail protocol (issue 4): both UCI files joined from the raw files; merchandise sale
lines (no ``C`` invoices, quantity > 0, price > 0, StockCode ``^\\d{5}[A-Za-z]{0,2}$``) with a
customer id; train on purchases before 2011-11-12; test 2011-11-12..2011-12-09; test customers =
bought in both periods; truth = distinct StockCodes bought in the test window; recall@20 =
hits / |truth|, NDCG@20 with binary relevance, averaged over test customers; *new* drops items
bought before the cutoff from recommendations and truth, and customers with no new item.
Any canonical dataset (the output of the generic ingest) runs with ``--data DIR --cutoff --end``;
``synthetic_taste`` / ``synthetic_grocery`` are the seeded generator with taste (``--seed``) at
the embedded size and at a large grocery chain's size, its people as the customers, the last 28
days as the test window.

**No model is declared champion in advance** (issue 18): every model — the peers and ours — is
fitted before a *validation* window of the test window's length that ends where the test window
starts, and the champion is the best on it (recall@20 *all*; for *new*, recall@20 *new*): the
promotion rule of ``train_recsys`` on a fresh registry. Then every model is refitted before the
test window and scored once; the report gives the champion's test figure beside every peer's.
``--trials N`` first tunes the hybrids' own hyper-parameters with Optuna on the window *before*
the validation window (so the choice on validation stays fair).

Every model comes from ``conf/recsys/default.yaml`` (what ``train_recsys`` trains). Peers:
popularity over the last 90 days, buy-again padded with popularity, implicit ALS (64 factors),
BPR (64 factors), item-kNN (cosine, K=100), EASE (λ=500). Ours: TIFU-KNN and the LambdaRank
hybrids (``hybrid`` for all items, ``hybrid_new`` for items new to the customer).
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import os
import time
import warnings
from pathlib import Path

import optuna
import pandas as pd
from omegaconf import OmegaConf

from benchmarks.common import OUT, REPO, PeakMemory, write_section
from src.features import columns as C
from src.features.interactions import interactions
from src.features.lifecycle import lifecycle_stages
from src.features.tables import read_tables
from src.recsys import spaces
from src.recsys.base import RANK, SCORE
from src.recsys.evaluation import Holdout, breakdown, holdout
from src.recsys.hybrid import Hybrid
from src.recsys.metrics import catalogue_coverage, novelty, per_customer
from src.tracking.bootstrap import paired_bootstrap
from src.tracking.candidates import factories, with_params

RECSYS_CONF = (
    REPO / "conf" / "recsys" / "default.yaml"
)  # what train_recsys trains, and how it promotes
K = 20


def online_retail_events() -> tuple[pd.DataFrame, str, str]:
    raw = REPO / "data" / "raw"
    a = pd.read_parquet(raw / "online_retail_ii_2009_2010.parquet").rename(
        columns={"Invoice": "InvoiceNo", "Price": "UnitPrice", "Customer ID": "CustomerID"}
    )
    b = pd.read_parquet(raw / "online_retail.parquet")
    d = pd.concat([a[a.InvoiceDate < "2010-12-01"], b], ignore_index=True)
    d = d[
        ~d.InvoiceNo.str.startswith("C")
        & (d.Quantity > 0)
        & (d.UnitPrice > 0)
        & d.CustomerID.notna()
    ]
    d = d[d.StockCode.str.match(r"^\d{5}[A-Za-z]{0,2}$")]
    ev = pd.DataFrame(
        {
            C.CUSTOMER_ID: d.CustomerID.astype(str),
            C.SKU: d.StockCode.astype(str),
            C.TS: d.InvoiceDate.dt.normalize(),
        }
    ).drop_duplicates()
    ev[C.WEIGHT] = 1.0
    return ev.reset_index(drop=True), "2011-11-12", "2011-12-10"


# the generator with taste at two sizes: the embedded data's and a large grocery chain's
# (≈2,500 households, ≈92,000 products, ≈1.5 M lines over two years)
SYNTHETIC = {
    "synthetic_taste": {"n_people": 2000, "n_skus": 1000, "days": 365},
    "synthetic_grocery": {"n_people": 2469, "n_skus": 92000, "days": 711, "orders_per_day": 700.0},
}
TEST_DAYS = 28


def synthetic_events(name: str, seed: int) -> tuple[pd.DataFrame, str, str]:
    """The generator with taste (:mod:`src.features.adapters.synthetic`), one purchase event per
    person x SKU x day (the generator's people are the customers: no identity noise here)."""
    from src.features.adapters.synthetic import generate, person_purchases

    d = generate(seed=seed, taste={}, events=False, campaigns=None, stock_history_weeks=0,
                 **SYNTHETIC[name])  # fmt: skip
    ev = person_purchases(d)
    end = ev[C.TS].max().normalize() + pd.Timedelta(days=1)
    cutoff = end - pd.Timedelta(days=TEST_DAYS)
    return ev, str(cutoff.date()), str(end.date())


PEERS = {
    "popularity": "popularity (90 days)",
    "buy_again": "buy-again + popularity",
    "als": "implicit ALS (64)",
    "bpr": "implicit BPR (64)",
    "item_knn": "item-kNN (cosine, K=100)",
    "ease": "EASE (λ=500)",
}
OURS = {"tifu_knn": "TIFU-KNN", "hybrid": "hybrid", "hybrid_new": "hybrid_new"}
TUNED = ("hybrid", "hybrid_new")


def model_entries() -> dict:
    """The recommenders as ``train_recsys`` builds them (``conf/recsys/default.yaml``)."""
    return OmegaConf.to_container(OmegaConf.load(RECSYS_CONF).models, resolve=True)


def models(entries: dict, only: list[str] | None = None) -> dict:
    names = [n for n in (*PEERS, *OURS) if not only or n in only or (PEERS | OURS)[n] in only]
    return factories(names, entries, refs=("candidates",))


def score(
    model, h: Holdout, customers_all, customers_new
) -> tuple[dict, pd.DataFrame, pd.DataFrame, dict]:
    """Metrics, the two recommendation lists, and per-customer recall (the promotion evidence)."""
    r_all = model.recommend(customers_all, K)
    r_new = model.recommend(customers_new, K, exclude_seen=True)
    pa, pn = per_customer(r_all, h.truth_all, K), per_customer(r_new, h.truth_new, K)
    return (
        {"recall_all": pa["recall"].mean(), "ndcg_all": pa["ndcg"].mean(),
         "recall_new": pn["recall"].mean(), "ndcg_new": pn["ndcg"].mean()},
        r_all, r_new, {"all": pa["recall"], "new": pn["recall"]},
    )  # fmt: skip


def test_customers(h: Holdout) -> tuple[list, list]:
    return sorted(h.truth_all[C.CUSTOMER_ID].unique()), sorted(h.truth_new[C.CUSTOMER_ID].unique())


def tune(entries: dict, events: pd.DataFrame, start: pd.Timestamp, days: int, trials: int,
         timeout: float) -> dict:  # fmt: skip
    """Optuna over each hybrid's space (``src.recsys.spaces.hybrid``), fitted before ``start``
    and scored on the ``days`` after it (the window before validation); returns the entries
    with the best parameters."""
    h = holdout(events, start, start + pd.Timedelta(days=days))
    cust_all, cust_new = test_customers(h)
    for name in TUNED:
        metric = "recall_all" if OURS[name] == "hybrid" else "recall_new"

        def objective(trial, name=name, metric=metric, entries=entries):
            trial_entries = with_params(entries, name, spaces.hybrid(trial))
            model = factories([name], trial_entries, refs=("candidates",))[name]().fit(h.train)
            return score(model, h, cust_all, cust_new)[0][metric]

        study = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.TPESampler(seed=0)
        )
        configured = {**_defaults(Hybrid), **entries[name]}
        study.enqueue_trial(
            {k: configured[k] for k in spaces.hybrid(optuna.trial.FixedTrial(configured))}
        )
        study.optimize(objective, n_trials=trials, timeout=timeout)
        print(f"tuned {name}: best {metric} {study.best_value:.4f} with {study.best_params} "
              f"({len(study.trials)} trials)", flush=True)  # fmt: skip
        entries = with_params(entries, name, study.best_params)
    return entries


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="recommendation benchmark")
    parser.add_argument("--dataset", default="online_retail",
                        choices=["online_retail", *SYNTHETIC])  # fmt: skip
    parser.add_argument("--data", help="a folder of canonical tables (generic ingest output)")
    parser.add_argument("--cutoff", help="test window start (YYYY-MM-DD)")
    parser.add_argument("--end", help="test window end (exclusive)")
    parser.add_argument("--seed", type=int, default=7, help="generator seed (synthetic datasets)")
    parser.add_argument(
        "--only", help="comma-separated models to run (a partial run: writes nothing)"
    )
    parser.add_argument("--trials", type=int, default=0,
                        help="Optuna trials per hybrid on the window before validation (0: configured parameters)")  # fmt: skip
    parser.add_argument("--tune-timeout", type=float, default=900.0, help="seconds per hybrid")
    parser.add_argument("--set", action="append", default=[], metavar="MODEL.KEY=VALUE",
                        help="override a model parameter, e.g. hybrid.n_candidates=100")  # fmt: skip
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    t0 = time.perf_counter()
    if args.data:
        tables = read_tables(args.data)
        events = interactions(tables.transactions, tables.products)
        cutoff, end = args.cutoff, args.end
        if not (cutoff and end):
            raise SystemExit("--data needs --cutoff and --end (YYYY-MM-DD; end exclusive)")
        name = Path(args.data).name
    elif args.dataset in SYNTHETIC:
        events, cutoff, end = synthetic_events(args.dataset, args.seed)
        name = f"{args.dataset}_seed{args.seed}"
    else:
        events, cutoff, end = online_retail_events()
        name = args.dataset
    cutoff, end = pd.Timestamp(args.cutoff or cutoff), pd.Timestamp(args.end or end)
    days = (end - cutoff).days
    val_cutoff = cutoff - pd.Timedelta(days=days)
    entries = model_entries()
    for o in args.set:
        key, value = o.split("=", 1)
        model, param = key.split(".", 1)
        entries = with_params(entries, model, {param: _value(value)})
    if args.trials:
        entries = tune(entries, events[events[C.TS] < cutoff], val_cutoff - pd.Timedelta(days=days),
                       days, args.trials, args.tune_timeout)  # fmt: skip
    only = args.only.split(",") if args.only else None
    makers = models(entries, only)
    hv, h = holdout(events[events[C.TS] < cutoff], val_cutoff, cutoff), holdout(events, cutoff, end)
    val_all, val_new = test_customers(hv)
    customers, customers_new = test_customers(h)
    everyone = sorted(h.train[C.CUSTOMER_ID].unique())
    lifecycle = lifecycle_stages(events, cutoff)
    print(
        f"{name}: {len(h.train):,} training events, {h.train[C.SKU].nunique():,} items; validation "
        f"{val_cutoff.date()}..{cutoff.date()} ({len(val_all):,} customers), test "
        f"{cutoff.date()}..{end.date()} ({len(customers):,} customers, {len(customers_new):,} "
        "with a new item)",
        flush=True,
    )
    rows, recs_of, parts, val_units = [], {}, [], {}
    for key, make in makers.items():
        label = (PEERS | OURS)[key]
        val, _, _, units = score(make().fit(hv.train), hv, val_all, val_new)
        val_units[label] = units
        gc.collect()
        with PeakMemory() as mem:
            t = time.perf_counter()
            model = make().fit(h.train)
            fit_s = time.perf_counter() - t
            t = time.perf_counter()
            model.recommend(everyone, K)  # every known customer, the serving-time job
            all_s = time.perf_counter() - t
            test, r_all, r_new, _ = score(model, h, customers, customers_new)
        rows.append({
            "model": label, "key": key, "ours": key in OURS,
            "val_recall_all": val["recall_all"], "val_recall_new": val["recall_new"],
            **test,
            "coverage_all": catalogue_coverage(r_all, len(model.items_), K),
            "novelty_all": novelty(r_all, h.train, K),
            "fit_s": fit_s, "recommend_all_customers_s": all_s, "peak_rss_gb": mem.peak_gb,
        })  # fmt: skip
        parts.append(breakdown(r_all, h, K, lifecycle).assign(model=label))
        recs_of[label] = (r_all, r_new)
        del model
        print(
            f"{label}: validation recall@20 all {val['recall_all']:.4f} new {val['recall_new']:.4f}; "
            f"test all {test['recall_all']:.4f} new {test['recall_new']:.4f} "
            f"(fit {fit_s:.1f} s, all customers {all_s:.1f} s, peak {mem.peak_gb:.2f} GB)",
            flush=True,
        )
    table = pd.DataFrame(rows)
    by = pd.concat(parts, ignore_index=True)
    if only:  # a partial run: print the tables, write nothing else
        print(table.drop(columns="key").to_string(float_format=lambda v: f"{v:.4f}"))
        return {"table": table, "breakdown": by}
    summary = {"dataset": name, "cutoff": str(cutoff.date()), "end": str(end.date()),
               "validation_cutoff": str(val_cutoff.date()), "test_customers": len(customers),
               "test_customers_new": len(customers_new), "items": int(h.train[C.SKU].nunique()),
               "training_events": len(h.train), "tuning_trials": args.trials}  # fmt: skip
    for variant in ("all", "new"):
        summary.update(choose(table, variant, val_units, **promotion_rule()))
    champs = {summary["champion_all"], summary["champion_new"]}
    t = table.set_index("model")
    summary["champion_fit_s"] = float(t.loc[list(champs), "fit_s"].max())
    summary["champion_recommend_all_s"] = float(
        t.loc[list(champs), "recommend_all_customers_s"].max()
    )
    summary["champion_peak_rss_gb"] = float(t.loc[list(champs), "peak_rss_gb"].max())
    summary.update(total_min=(time.perf_counter() - t0) / 60, date=time.strftime("%Y-%m-%d"),
                   cpus=os.cpu_count())  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    cols = [C.CUSTOMER_ID, C.SKU, RANK, SCORE]
    recs_of[summary["champion_all"]][0][cols].to_parquet(
        OUT / f"recsys_{name}_all.parquet", index=False
    )
    recs_of[summary["champion_new"]][1][cols].to_parquet(
        OUT / f"recsys_{name}_new.parquet", index=False
    )
    (OUT / f"recsys_{name}.json").write_text(json.dumps(
        {"summary": summary, "table": table.to_dict("records"), "breakdown": by.to_dict("records")},
        indent=2, default=float,
    ))  # fmt: skip
    text = render(table, by, summary)
    write_section(f"bench-recsys-{name}", text, f"### `make bench-recsys` — {name}")
    print(text)
    return summary


def _defaults(cls) -> dict:
    return {
        k: p.default
        for k, p in inspect.signature(cls).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def _value(v: str):
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(v.lower(), v)


def promotion_rule() -> dict:
    """How strict ``train_recsys`` promotion is (``conf/recsys/default.yaml``: ``promotion``)."""
    p = OmegaConf.load(RECSYS_CONF).promotion
    return {"level": p.significance_level, "n_boot": int(p.n_boot)}


def choose(
    table: pd.DataFrame,
    variant: str,
    units: dict | None = None,
    level: float | None = 0.05,
    n_boot: int = 2000,
) -> dict:
    """The validation-chosen champion for ``variant`` and its test ratio to the best *other* peer.

    ``train_recsys``'s promotion rule with the best peer on validation as the standing champion:
    the best model on validation replaces it only if its per-customer gain there is significant
    (paired bootstrap at ``level``, as :func:`src.tracking.promotion.promote` requires of a
    challenger); without ``units`` the best on validation wins."""
    col = f"val_recall_{variant}"
    best = table.loc[table[col].idxmax()]
    peers_val = table[~table["ours"]]
    incumbent = peers_val.loc[peers_val[col].idxmax()]
    champ, why, boot = best, "best on validation", None
    if units is not None and level is not None and best["model"] != incumbent["model"]:
        comp = paired_bootstrap(units[incumbent["model"]][variant], units[best["model"]][variant],
                                True, float(level), int(n_boot))  # fmt: skip
        boot = comp.as_dict()
        if comp.verdict == "challenger better":
            why = (f"best on validation, significantly better than {incumbent['model']} "
                   f"(+{comp.delta:.4f} [{comp.ci_low:+.4f}, {comp.ci_high:+.4f}])")  # fmt: skip
        else:
            champ = incumbent
            why = (f"{best['model']} was best on validation but not significantly better than "
                   f"{incumbent['model']} ({comp.delta:+.4f} [{comp.ci_low:+.4f}, "
                   f"{comp.ci_high:+.4f}]): the peer stays champion")  # fmt: skip
    peers = table[~table["ours"] & (table["model"] != champ["model"])]
    top = peers.loc[peers[f"recall_{variant}"].idxmax()]
    others = table[table["model"] != champ["model"]]
    return {
        f"champion_{variant}": champ["model"],
        f"champion_reason_{variant}": why,
        f"champion_bootstrap_{variant}": boot,
        f"champion_val_recall_{variant}": float(champ[col]),
        f"recall_{variant}": float(champ[f"recall_{variant}"]),
        f"best_peer_{variant}": top["model"],
        f"best_peer_recall_{variant}": float(top[f"recall_{variant}"]),
        f"ratio_{variant}": float(champ[f"recall_{variant}"] / top[f"recall_{variant}"]),
        f"best_other_{variant}": others.loc[others[f"recall_{variant}"].idxmax(), "model"],
        f"loses_to_{variant}": sorted(
            others.loc[others[f"recall_{variant}"] > champ[f"recall_{variant}"], "model"]
        ),
    }


TARGETS = {  # dataset -> (all, new) ratio to the best peer; None = not a target there
    "online_retail": (1.2, 1.5),
    "synthetic_taste": (1.2, None),
}
GROCERY_GB = 4.0


def render(table: pd.DataFrame, by: pd.DataFrame, s: dict) -> str:
    ok = lambda b: "met" if b else "**MISSED**"  # noqa: E731
    base = s["dataset"].split("_seed")[0]
    lines = [
        f"Measured {s['date']} on {s['cpus']} CPUs; {s['training_events']:,} training events, "
        f"{s['items']:,} items; validation {s['validation_cutoff']}..{s['cutoff']}, test "
        f"{s['cutoff']}..{s['end']} (exclusive); {s['test_customers']:,} test customers "
        f"({s['test_customers_new']:,} with a new item); Optuna trials per hybrid: "
        f"{s['tuning_trials']}; whole run {s['total_min']:.1f} min. Peak RSS is the whole process "
        "(it also holds the data).",
        "",
        "| model | ours | validation recall@20 all | validation recall@20 new | recall@20 all | NDCG@20 all | recall@20 new | NDCG@20 new | coverage@20 | novelty | fit s | recommend all customers s | peak RSS GB |",
        "| --- | :-: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for _, r in table.sort_values("val_recall_all", ascending=False).iterrows():
        mark = [v for v in ("all", "new") if s[f"champion_{v}"] == r["model"]]
        name = f"**{r['model']}** (champion: {', '.join(mark)})" if mark else r["model"]
        lines.append(
            f"| {name} | {'yes' if r['ours'] else ''} | {r['val_recall_all']:.4f} | {r['val_recall_new']:.4f} | "
            f"{r['recall_all']:.4f} | {r['ndcg_all']:.4f} | {r['recall_new']:.4f} | {r['ndcg_new']:.4f} | "
            f"{r['coverage_all']:.3f} | {r['novelty_all']:.2f} | {r['fit_s']:.1f} | "
            f"{r['recommend_all_customers_s']:.1f} | {r['peak_rss_gb']:.2f} |"
        )
    target = TARGETS.get(base, (None, None))
    lines.append("")
    for v, goal in zip(("all", "new"), target, strict=True):
        line = (f"- {v}: validation chose **{s[f'champion_{v}']}** ({s[f'champion_reason_{v}']}); test {s[f'recall_{v}']:.4f} vs best "
                f"peer {s[f'best_peer_{v}']} {s[f'best_peer_recall_{v}']:.4f} = {s[f'ratio_{v}']:.3f}x")  # fmt: skip
        if goal is not None:
            line += f" (target ≥ {goal}): {ok(s[f'ratio_{v}'] >= goal)}"
        lost = s[f"loses_to_{v}"]
        line += f"; loses to: {', '.join(lost)}" if lost else "; loses to no other model"
        lines.append(line)
    lines.append(
        f"- champion training {s['champion_fit_s']:.0f} s (target ≤ 120 s): {ok(s['champion_fit_s'] <= 120)}; "
        f"recommending for all customers {s['champion_recommend_all_s']:.1f} s (target ≤ 30 s): "
        f"{ok(s['champion_recommend_all_s'] <= 30)}"
        + (
            f"; peak RSS {s['champion_peak_rss_gb']:.2f} GB (target ≤ {GROCERY_GB:.0f} GB): "
            f"{ok(s['champion_peak_rss_gb'] <= GROCERY_GB)}"
            if base == "synthetic_grocery"
            else ""
        )  # fmt: skip
    )
    # where each model wins: the champion and the two best peers by segment
    peers = (
        table[~table["ours"]].sort_values("recall_all", ascending=False)["model"].head(2).tolist()
    )
    show = list(
        dict.fromkeys(
            [s["champion_all"], *[m for m in table["model"] if m in OURS.values()], *peers]
        )
    )
    b = by[by["model"].isin(show)]
    b = b.assign(col=b["dimension"] + ": " + b["member"].astype(str))
    n = b.drop_duplicates("col").set_index("col")["customers"]
    pivot = b.pivot_table(index="col", columns="model", values="recall", sort=False)[show]
    lines += ["", "Recall@20 (*all* list) by customer frequency (purchase days before the cut-off), "
              "lifecycle stage and repeat vs explore items (the list's share of repeat items last):", "",
              "| segment | customers | " + " | ".join(show) + " |",
              "| --- | ---: | " + " | ".join("---:" for _ in show) + " |"]  # fmt: skip
    for col, r in pivot.iterrows():
        lines.append(f"| {col} | {int(n[col]):,} | " + " | ".join(f"{v:.4f}" for v in r) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
