"""The recommendation step: events -> evaluated, tracked, registered models -> champion -> recs.

For each configured model, one MLflow run (experiment ``recsys``): fit on purchases before the
cutoff, evaluate on the window after it (all / new / cold start, per lifecycle segment, recall
vs k plot), then refit on all purchases and register that model. Promotion picks the champion by
the configured rule; its recommendations for every known customer are written to
``<output>/recommendations.parquet``.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow.models import ModelSignature  # noqa: E402
from mlflow.types import ColSpec, Schema  # noqa: E402

from src.features import columns as C  # noqa: E402
from src.features.interactions import purchase_events  # noqa: E402
from src.features.lifecycle import rfm  # noqa: E402
from src.features.tables import CanonicalTables, fingerprint, read_tables  # noqa: E402
from src.recsys.evaluation import Holdout, evaluate, holdout  # noqa: E402
from src.recsys.factory import build  # noqa: E402
from src.recsys.metrics import per_customer  # noqa: E402
from src.recsys.pyfunc import RecommenderModel, pip_requirements  # noqa: E402
from src.recsys.rules import allowed_items  # noqa: E402
from src.tracking import CHAMPION, PromotionRule, configure, log_context, promote  # noqa: E402

log = logging.getLogger(__name__)
EXPERIMENT = "recsys"


def cutoff_of(events: pd.DataFrame, cutoff: str | None, test_days: int) -> pd.Timestamp:
    return (
        pd.Timestamp(cutoff)
        if cutoff
        else events[C.TS].max().normalize() - pd.Timedelta(days=test_days - 1)
    )


def plots(metrics: Mapping[str, float], ks, name: str):
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for variant in ("all", "new", "cold"):
        vals = [metrics.get(f"{variant}/recall_at_{k}") for k in ks]
        if all(v is not None for v in vals):
            axes[0].plot(ks, vals, marker="o", label=variant)
    axes[0].set_xlabel("k")
    axes[0].set_ylabel("recall@k")
    axes[0].legend()
    seg = {k.split("/")[2]: v for k, v in metrics.items() if k.startswith("all/segment/")}
    axes[1].bar(list(seg), list(seg.values()), color="tab:blue")
    axes[1].set_ylabel(f"recall@{max(ks)} (all)")
    axes[1].set_title("by lifecycle stage")
    fig.suptitle(name)
    fig.tight_layout()
    return fig


def run_model(
    name: str,
    models_cfg: Mapping,
    tables: CanonicalTables,
    events: pd.DataFrame,
    h: Holdout,
    ctx: Mapping,
    cfg: Mapping,
    registered: str,
) -> dict:
    with mlflow.start_run(run_name=name) as run:
        log_context(
            {"model_name": name, **cfg["config"]},
            cfg["fingerprint"],
            {"task": "recsys", "model": name},
        )
        mlflow.set_tag(
            "mlflow.note.content",
            f"{name}: trained on purchases before {h.cutoff.date()}, evaluated on what "
            f"{h.truth_all[C.CUSTOMER_ID].nunique()} customers bought after it (all / new items / "
            "cold-start customers, recall by lifecycle stage), then refit on all data and "
            "registered. Per-customer results: per_customer_metrics.json.",
        )
        t = time.perf_counter()
        model = build(name, models_cfg).fit(h.train, ctx["segments"])
        fit_s = time.perf_counter() - t
        allowed = allowed_items(model.items_, tables.products)
        t = time.perf_counter()
        metrics, recs = evaluate(model, h, cfg["ks"], allowed, ctx["lifecycle"], ctx["segments"])
        rec_s = time.perf_counter() - t
        mlflow.log_metrics({f"val/{k}": v for k, v in metrics.items()})
        # per customer, so reviewers can bootstrap a difference between two runs (pipelines.compare)
        pc = per_customer(recs["all"], h.truth_all, max(cfg["ks"])).reset_index()
        pc["lifecycle"] = pc[C.CUSTOMER_ID].map(ctx["lifecycle"] or {}).fillna("unknown")
        mlflow.log_table(pc, artifact_file="per_customer_metrics.json")
        mlflow.log_metrics({"time/fit_s": fit_s, "time/evaluate_s": rec_s})
        fig = plots(metrics, cfg["ks"], name)
        mlflow.log_figure(fig, "plots/recall_vs_k_and_segments.png")
        plt.close(fig)
        t = time.perf_counter()
        final = build(name, models_cfg).fit(events, ctx["segments"])
        mlflow.log_metric("time/final_fit_s", time.perf_counter() - t)
        with tempfile.TemporaryDirectory() as tmp:
            path = final.save(Path(tmp) / "recommender")
            example = pd.DataFrame({C.CUSTOMER_ID: [str(final.customers_[0])], "k": [10]})
            mlflow.pyfunc.log_model(
                name="model",
                python_model=RecommenderModel(),
                artifacts={"recommender": str(path)},
                pip_requirements=pip_requirements(),
                signature=ModelSignature(
                    inputs=Schema(
                        [ColSpec("string", C.CUSTOMER_ID), ColSpec("long", "k", required=False)]
                    )
                ),
                input_example=example,
                registered_model_name=registered,
                tags={"model": name},
            )
        return {
            "run_id": run.info.run_id,
            "model": name,
            **{f"val/{k}": v for k, v in metrics.items()},
        }


def evaluation_setup(
    tables_dir: str | Path, recsys_cfg: Mapping
) -> tuple[CanonicalTables, pd.DataFrame, Holdout, dict[str, str]]:
    """Tables, purchase events, the temporal holdout and customer segments (country), as
    training and tuning both use them."""
    tables = read_tables(tables_dir)
    events = purchase_events(tables.transactions, tables.products)
    if events.empty:
        raise ValueError(f"{tables_dir}: no merchandise purchases with a customer id to learn from")
    h = holdout(events, cutoff_of(events, recsys_cfg.get("cutoff"), int(recsys_cfg["test_days"])))
    countries = tables.customers[[C.CUSTOMER_ID, C.COUNTRY]].dropna()
    segments = dict(
        zip(countries[C.CUSTOMER_ID].astype(str), countries[C.COUNTRY].astype(str), strict=True)
    )
    return tables, events, h, segments


def train_recommenders(
    tables_dir: str | Path,
    recsys_cfg: Mapping,
    tracking_cfg: Mapping,
    output: str | Path,
    config: Mapping,
) -> dict:
    tables_dir = Path(tables_dir)
    tables, events, h, segments = evaluation_setup(tables_dir, recsys_cfg)
    cutoff = h.cutoff
    life = rfm(tables.transactions, tables.products, as_of=cutoff)
    ctx = {
        "lifecycle": dict(
            zip(life[C.CUSTOMER_ID].astype(str), life[C.LIFECYCLE].astype(str), strict=True)
        ),
        "segments": segments,
    }
    configure(tracking_cfg["uri"], EXPERIMENT, tracking_cfg["artifact_root"])
    run_cfg = {
        "config": config,
        "fingerprint": fingerprint(sorted(tables_dir.glob("*.parquet"))),
        "ks": list(recsys_cfg["ks"]),
    }
    log.info(
        "recsys: %d events, cutoff %s, %d test customers (%d new-item, %d cold start)",
        len(events),
        cutoff.date(),
        h.truth_all[C.CUSTOMER_ID].nunique(),
        h.truth_new[C.CUSTOMER_ID].nunique(),
        h.truth_cold[C.CUSTOMER_ID].nunique(),
    )
    results = []
    for i, name in enumerate(recsys_cfg["train"], 1):
        log.info("[recommender %d/%d] %s", i, len(recsys_cfg["train"]), name)
        results.append(
            run_model(
                name,
                recsys_cfg["models"],
                tables,
                events,
                h,
                ctx,
                run_cfg,
                recsys_cfg["registered_model"],
            )
        )
    rule = PromotionRule(**recsys_cfg["promotion"])
    decision = promote(recsys_cfg["registered_model"], rule)
    champion = mlflow.pyfunc.load_model(f"models:/{recsys_cfg['registered_model']}@{CHAMPION}")
    inner = champion.unwrap_python_model().model
    allowed = allowed_items(inner.items_, tables.products)
    recs = inner.recommend(list(inner.customers_), int(recsys_cfg["k"]), allowed=allowed)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    path = output / "recommendations.parquet"
    recs.to_parquet(path, index=False)
    board = pd.DataFrame(results).sort_values(rule.metric, ascending=not rule.higher_is_better)
    cols = [
        c
        for c in [
            "model",
            "val/all/recall_at_20",
            "val/all/ndcg_at_20",
            "val/new/recall_at_20",
            "val/cold/recall_at_20",
            "val/all/coverage_at_20",
        ]
        if c in board
    ]
    print(
        "\n=== recommender leaderboard (sorted by "
        + rule.metric
        + ") ===\n"
        + board[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}")
        + f"\n\nchampion: version {decision['champion_version']} ({decision['reason']})"
        + f"\nrecommendations for {recs[C.CUSTOMER_ID].nunique():,} customers written to {path}",
        flush=True,
    )
    return {"leaderboard": board, "decision": decision, "recommendations_path": str(path)}
