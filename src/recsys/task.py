"""Recommendation as a task of the tracked skeleton (:mod:`src.tracking.experiment`).

:class:`RecsysTask` holds what every recommender is trained and judged on — purchase events from
the feature store, the temporal holdout, the catalogue (merchandise only), customer segments for
the cold-start fallback and lifecycle stages as of the cut-off — and answers the skeleton:

* ``evaluate``: fit on purchases before the cut-off, score the window after it (all / new items /
  cold-start customers, recall by lifecycle stage, recall vs k plot); per-customer results are
  the promotion evidence;
* ``package``: refit on all purchases and wrap the model (with its id mappings) as a pyfunc.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow.models import ModelSignature  # noqa: E402
from mlflow.types import ColSpec, Schema  # noqa: E402

from src.features import columns as C  # noqa: E402
from src.recsys.base import Recommender  # noqa: E402
from src.recsys.evaluation import Holdout, evaluate  # noqa: E402
from src.recsys.metrics import per_customer  # noqa: E402
from src.recsys.pyfunc import RecommenderModel, pip_requirements  # noqa: E402
from src.recsys.rules import allowed_items  # noqa: E402
from src.tracking.experiment import Evaluation, Packaged  # noqa: E402
from src.tracking.tasks import TaskSpec  # noqa: E402


def cutoff_of(events: pd.DataFrame, cutoff: str | None, test_days: int) -> pd.Timestamp:
    return (
        pd.Timestamp(cutoff)
        if cutoff
        else events[C.TS].max().normalize() - pd.Timedelta(days=test_days - 1)
    )


@dataclass(frozen=True)
class RecsysTask:
    spec: TaskSpec
    events: pd.DataFrame  # the interactions feature: one row per purchase
    holdout: Holdout
    items: pd.DataFrame  # the catalogue (sku, is_merchandise, …)
    segments: Mapping[str, str]  # customer_id -> segment (country), for cold start
    lifecycle: Mapping[str, str]  # customer_id -> lifecycle stage at the cut-off
    ks: tuple[int, ...]
    data_fingerprint: str
    tags: Mapping[str, str] = field(default_factory=dict)

    def allowed(self, model: Recommender):
        return allowed_items(model.items_, self.items)

    def evaluate(
        self,
        name: str,
        make: Callable[[], Recommender],
        on_step: Callable[[int, dict], None] | None = None,
    ) -> Evaluation:
        h = self.holdout
        t = time.perf_counter()
        model = make().fit(h.train, self.segments)
        fit_s = time.perf_counter() - t
        t = time.perf_counter()
        metrics, recs = evaluate(
            model, h, self.ks, self.allowed(model), self.lifecycle, self.segments
        )
        rec_s = time.perf_counter() - t
        pc = per_customer(recs["all"], h.truth_all, max(self.ks)).reset_index()
        pc["lifecycle"] = pc[C.CUSTOMER_ID].map(self.lifecycle).fillna("unknown")
        return Evaluation(
            metrics={
                **{f"val/{k}": v for k, v in metrics.items()},
                "time/fit_s": fit_s,
                "time/evaluate_s": rec_s,
            },
            units=pc,
            note=(
                f"{name}: trained on purchases before {h.cutoff.date()}, evaluated on what "
                f"{h.truth_all[C.CUSTOMER_ID].nunique()} customers bought after it (all / new "
                "items / cold-start customers, recall by lifecycle stage), then refit on all data "
                "and registered. Per-customer results: per_customer_metrics.json."
            ),
            figures={"plots/recall_vs_k_and_segments.png": recall_plots(metrics, self.ks, name)},
        )

    def package(self, name: str, make: Callable[[], Recommender], workdir: Path) -> Packaged:
        t = time.perf_counter()
        final = make().fit(self.events, self.segments)
        seconds = time.perf_counter() - t
        path = final.save(workdir / "recommender")
        return Packaged(
            python_model=RecommenderModel(),
            artifacts={"recommender": str(path)},
            signature=ModelSignature(
                inputs=Schema(
                    [ColSpec("string", C.CUSTOMER_ID), ColSpec("long", "k", required=False)]
                )
            ),
            input_example=pd.DataFrame({C.CUSTOMER_ID: [str(final.customers_[0])], "k": [10]}),
            pip_requirements=pip_requirements(),
            metrics={"time/final_fit_s": seconds},
        )


def recall_plots(metrics: Mapping[str, float], ks, name: str):
    """recall@k by variant, and recall@max(k) (*all*) by lifecycle stage, by customer frequency
    (purchase days before the cut-off) and for repeat vs explore items."""
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.2))
    for variant in ("all", "new", "cold"):
        vals = [metrics.get(f"{variant}/recall_at_{k}") for k in ks]
        if all(v is not None for v in vals):
            axes[0].plot(ks, vals, marker="o", label=variant)
    axes[0].set_xlabel("k")
    axes[0].set_ylabel("recall@k")
    axes[0].legend()
    kmax = max(ks)
    for ax, (dim, title, colour) in zip(
        axes[1:],
        (("segment", "by lifecycle stage", "tab:blue"),
         ("frequency", "by purchase days before the cut-off", "tab:green"),
         ("purchase", "repeat vs explore items", "tab:orange")),
        strict=True,
    ):  # fmt: skip
        got = {
            k.split("/")[2]: v
            for k, v in metrics.items()
            if k.startswith(f"all/{dim}/") and k.endswith(f"/recall_at_{kmax}")
        }
        ax.bar(list(got), list(got.values()), color=colour)
        ax.set_ylabel(f"recall@{kmax} (all)")
        ax.set_title(title)
    fig.suptitle(name)
    fig.tight_layout()
    plt.close(fig)
    return fig
