"""`make bench-recsys DATASET=online_retail` or `make bench-recsys DATA=DIR CUTOFF=… END=…`.

Online Retail protocol (issue 4): both UCI files joined from the raw files; merchandise sale
lines (no ``C`` invoices, quantity > 0, price > 0, StockCode ``^\\d{5}[A-Za-z]{0,2}$``) with a
customer id; train on purchases before 2011-11-12; test 2011-11-12..2011-12-09; test customers =
bought in both periods; truth = distinct StockCodes bought in the test window; recall@20 =
hits / |truth|, NDCG@20 with binary relevance, averaged over test customers; *new* drops items
bought before the cutoff from recommendations and truth, and customers with no new item.
Any canonical dataset (the output of the generic ingest) runs with ``--data DIR --cutoff --end``.

Peers, in the same run and on the same purchase matrix (one row per customer x SKU x day):
popularity over the last 90 days, buy-again padded with popularity, implicit ALS (64 factors,
defaults otherwise), BPR (64 factors), item-kNN (cosine, K=100), EASE (λ=500). Our champions
are declared before the test: ``hybrid`` for *all*, ``hybrid_new`` for *new*.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import pandas as pd

from benchmarks.bench_forecast import PeakMemory
from benchmarks.report import write_section
from src.features import columns as C
from src.features.interactions import interactions
from src.features.tables import read_tables
from src.recsys.base import RANK, SCORE
from src.recsys.evaluation import holdout
from src.recsys.hybrid import Hybrid
from src.recsys.metrics import catalogue_coverage, per_customer
from src.recsys.models import ALS, BPR, EASE, BuyAgain, ItemKNN, Popularity

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out"
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


def models(hybrid_options: dict | None = None) -> tuple[dict, dict]:
    peers = {
        "popularity (90 days)": lambda: Popularity(days=90),
        "buy-again + popularity": lambda: BuyAgain(),
        "implicit ALS (64)": lambda: ALS(factors=64),
        "implicit BPR (64)": lambda: BPR(factors=64),
        "item-kNN (cosine, K=100)": lambda: ItemKNN(k_neighbours=100),
        "EASE (λ=500)": lambda: EASE(lambda_=500.0),
    }
    cands = {
        "buy_again": BuyAgain,
        "item_knn": ItemKNN,
        "als": ALS,
        "ease": EASE,
        "popularity": Popularity,
    }
    cands_new = {k: v for k, v in cands.items() if k != "buy_again"}
    ours = {
        "hybrid": lambda: Hybrid(cands, mode="all", **(hybrid_options or {})),
        "hybrid_new": lambda: Hybrid(
            cands_new, mode="new", **{"n_candidates": 100, **(hybrid_options or {})}
        ),
    }
    return peers, ours


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="recommendation benchmark")
    parser.add_argument("--dataset", default="online_retail")
    parser.add_argument("--data", help="a folder of canonical tables (generic ingest output)")
    parser.add_argument("--cutoff")
    parser.add_argument("--end")
    parser.add_argument(
        "--only", help="comma-separated model labels to run (a partial, validation run)"
    )
    parser.add_argument(
        "--hybrid",
        action="append",
        default=[],
        help="hybrid option KEY=VALUE, e.g. n_candidates=100",
    )
    # validation runs: --cutoff 2011-10-15 --end 2011-11-12 --only hybrid,... (never the test window)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    t0 = time.perf_counter()
    if args.data:
        tables = read_tables(args.data)
        events = interactions(tables.transactions, tables.products)
        cutoff, end = args.cutoff, args.end
        if not (cutoff and end):
            raise SystemExit("--data needs --cutoff and --end (YYYY-MM-DD; end exclusive)")
        name = Path(args.data).name
    else:
        events, cutoff, end = online_retail_events()
        cutoff, end = args.cutoff or cutoff, args.end or end
        name = args.dataset
    h = holdout(events, cutoff, end)
    customers = sorted(h.truth_all[C.CUSTOMER_ID].unique())
    customers_new = sorted(h.truth_new[C.CUSTOMER_ID].unique())
    all_customers = sorted(h.train[C.CUSTOMER_ID].unique())
    print(
        f"{name}: {len(h.train):,} training events, {len(customers):,} test customers "
        f"({len(customers_new):,} with a new item), {h.train[C.SKU].nunique():,} items",
        flush=True,
    )

    def value(v: str):
        return int(v) if v.isdigit() else {"true": True, "false": False}.get(v.lower(), v)

    options = {k: value(v) for k, v in (o.split("=", 1) for o in args.hybrid)}
    peers, ours = models(options)
    chosen = {**peers, **ours}
    if args.only:
        chosen = {k: v for k, v in chosen.items() if k in args.only.split(",")}
    rows, recs_of = [], {}
    for label, make in chosen.items():
        with PeakMemory() as mem:
            t = time.perf_counter()
            model = make().fit(h.train)
            fit_s = time.perf_counter() - t
            t = time.perf_counter()
            model.recommend(all_customers, K)  # every known customer, the serving-time job
            all_s = time.perf_counter() - t
            r_all = model.recommend(customers, K)
            r_new = model.recommend(customers_new, K, exclude_seen=True)
        pa, pn = per_customer(r_all, h.truth_all, K), per_customer(r_new, h.truth_new, K)
        rows.append(
            {
                "model": label,
                "ours": label in ours,
                "recall_all": pa["recall"].mean(),
                "ndcg_all": pa["ndcg"].mean(),
                "recall_new": pn["recall"].mean(),
                "ndcg_new": pn["ndcg"].mean(),
                "coverage_all": catalogue_coverage(r_all, len(model.items_), K),
                "fit_s": fit_s,
                "recommend_all_customers_s": all_s,
                "peak_rss_gb": mem.peak_gb,
            }
        )
        recs_of[label] = (r_all, r_new)
        print(
            f"{label}: recall@20 all {rows[-1]['recall_all']:.4f} new {rows[-1]['recall_new']:.4f} "
            f"(fit {fit_s:.1f} s, all customers {all_s:.1f} s)",
            flush=True,
        )
    table = pd.DataFrame(rows)
    if args.only:  # a partial (validation) run: print the table, write nothing else
        print(table.to_string(float_format=lambda v: f"{v:.4f}"))
        return {"table": table}
    peer_rows = table[~table["ours"]]
    best_all = peer_rows.loc[peer_rows["recall_all"].idxmax()]
    best_new = peer_rows.loc[peer_rows["recall_new"].idxmax()]
    t = table.set_index("model")
    summary = {
        "dataset": name,
        "cutoff": cutoff,
        "end": end,
        "test_customers": len(customers),
        "test_customers_new": len(customers_new),
        "champion_all": "hybrid",
        "champion_new": "hybrid_new",
        "recall_all": float(t.loc["hybrid", "recall_all"]),
        "best_peer_all": best_all["model"],
        "best_peer_recall_all": float(best_all["recall_all"]),
        "ratio_all": float(t.loc["hybrid", "recall_all"] / best_all["recall_all"]),
        "recall_new": float(t.loc["hybrid_new", "recall_new"]),
        "best_peer_new": best_new["model"],
        "best_peer_recall_new": float(best_new["recall_new"]),
        "ratio_new": float(t.loc["hybrid_new", "recall_new"] / best_new["recall_new"]),
        "champion_fit_s": float(max(t.loc["hybrid", "fit_s"], t.loc["hybrid_new", "fit_s"])),
        "champion_recommend_all_s": float(
            max(
                t.loc["hybrid", "recommend_all_customers_s"],
                t.loc["hybrid_new", "recommend_all_customers_s"],
            )
        ),
        "total_min": (time.perf_counter() - t0) / 60,
        "date": time.strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    cols = [C.CUSTOMER_ID, C.SKU, RANK, SCORE]
    recs_of["hybrid"][0][cols].to_parquet(OUT / f"recsys_{name}_all.parquet", index=False)
    recs_of["hybrid_new"][1][cols].to_parquet(OUT / f"recsys_{name}_new.parquet", index=False)
    (OUT / f"recsys_{name}.json").write_text(
        json.dumps({"summary": summary, "table": table.to_dict("records")}, indent=2, default=float)
    )
    text = render(table, summary)
    write_section(f"bench-recsys-{name}", text, f"### `make bench-recsys` — {name}")
    print(text)
    return summary


def render(table: pd.DataFrame, s: dict) -> str:
    ok = lambda b: "met" if b else "**MISSED**"  # noqa: E731
    lines = [
        f"Measured {s['date']} on {s['cpus']} CPUs; train before {s['cutoff']}, test until {s['end']} (exclusive); "
        f"{s['test_customers']:,} test customers ({s['test_customers_new']:,} with a new item); whole run {s['total_min']:.1f} min. "
        "Peak RSS is the whole process (it also holds the data).",
        "",
        "| model | ours | recall@20 all | NDCG@20 all | recall@20 new | NDCG@20 new | coverage@20 | fit s | recommend all customers s | peak RSS GB |",
        "| --- | :-: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for _, r in table.sort_values("recall_all", ascending=False).iterrows():
        lines.append(
            f"| {r['model']} | {'yes' if r['ours'] else ''} | {r['recall_all']:.4f} | {r['ndcg_all']:.4f} | "
            f"{r['recall_new']:.4f} | {r['ndcg_new']:.4f} | {r['coverage_all']:.3f} | {r['fit_s']:.1f} | "
            f"{r['recommend_all_customers_s']:.1f} | {r['peak_rss_gb']:.2f} |"
        )
    lines += [
        "",
        f"- all: hybrid {s['recall_all']:.4f} vs best peer {s['best_peer_all']} {s['best_peer_recall_all']:.4f} = "
        f"{s['ratio_all']:.3f}x (target ≥ 1.15): {ok(s['ratio_all'] >= 1.15)}",
        f"- new: hybrid_new {s['recall_new']:.4f} vs best peer {s['best_peer_new']} {s['best_peer_recall_new']:.4f} = "
        f"{s['ratio_new']:.3f}x (target ≥ 1.2): {ok(s['ratio_new'] >= 1.2)}",
        f"- champion training {s['champion_fit_s']:.0f} s (target < 120 s): {ok(s['champion_fit_s'] < 120)}; "
        f"recommending for all customers {s['champion_recommend_all_s']:.1f} s (target < 30 s): {ok(s['champion_recommend_all_s'] < 30)}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
