"""Temporal evaluation of recommenders (customer x SKU purchases after a cutoff).

* **test customers**: bought before the cutoff and in the test window; truth = distinct SKUs they
  bought in the window;
* **all**: repeat purchases count; **new**: items bought before the cutoff are excluded from the
  recommendations and from the truth, customers with no new item are dropped;
* **cold start**: customers who bought in the window but never before; they get the fallback;
* figures per lifecycle segment (as of the cutoff) for the *all* variant, and where a model
  wins (:func:`breakdown`): by customer frequency bucket (purchase days before the cutoff), by
  lifecycle stage, and repeat vs explore (truth items bought before the cutoff vs new ones,
  scored on the same list), with the share of repeat items in the list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from src.features import columns as C
from src.recsys.base import RANK, Recommender
from src.recsys.metrics import catalogue_coverage, novelty, per_customer


@dataclass
class Holdout:
    cutoff: pd.Timestamp
    train: pd.DataFrame  # events before the cutoff
    truth_all: pd.DataFrame  # customer_id, sku bought in the window by known customers
    truth_new: pd.DataFrame
    truth_cold: pd.DataFrame  # by customers unseen before the cutoff


def holdout(
    events: pd.DataFrame, cutoff: str | pd.Timestamp, end: str | pd.Timestamp | None = None
) -> Holdout:
    cutoff = pd.Timestamp(cutoff)
    train = events[events[C.TS] < cutoff]
    test = events[events[C.TS] >= cutoff]
    if end is not None:
        test = test[test[C.TS] < pd.Timestamp(end)]
    truth = test[[C.CUSTOMER_ID, C.SKU]].drop_duplicates()
    known = set(train[C.CUSTOMER_ID])
    truth_all = truth[truth[C.CUSTOMER_ID].isin(known)]
    seen = train[[C.CUSTOMER_ID, C.SKU]].drop_duplicates().assign(_seen=True)
    new = truth_all.merge(seen, on=[C.CUSTOMER_ID, C.SKU], how="left")
    truth_new = new[new["_seen"].isna()].drop(columns="_seen")
    return Holdout(cutoff, train, truth_all, truth_new, truth[~truth[C.CUSTOMER_ID].isin(known)])


FREQUENCY_BUCKETS = ((1, "1"), (3, "2-3"), (9, "4-9"), (np.inf, "10_plus"))  # purchase days


def frequency_bucket(train: pd.DataFrame) -> pd.Series:
    """customer_id -> bucket of the number of days they bought on before the cutoff."""
    days = train[C.TS].dt.normalize().groupby(train[C.CUSTOMER_ID]).nunique()
    edges = [0, *[b for b, _ in FREQUENCY_BUCKETS]]
    return pd.cut(days, edges, labels=[n for _, n in FREQUENCY_BUCKETS]).astype(str)


def breakdown(
    recs: pd.DataFrame, h: Holdout, k: int, lifecycle: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Recall / NDCG at ``k`` of the *all* list by ``dimension`` (frequency, lifecycle, purchase
    = repeat / explore) and ``member``; ``customers`` = how many were averaged."""
    pc = per_customer(recs, h.truth_all, k)
    labels = {"frequency": frequency_bucket(h.train).reindex(pc.index).fillna("unknown")}
    if lifecycle:
        labels["lifecycle"] = pd.Series(
            pc.index.map(lambda c: lifecycle.get(c, "unknown")), pc.index
        )
    rows = []
    for dim, lab in labels.items():
        g = pc.groupby(lab.to_numpy()).agg(
            customers=("recall", "size"), recall=("recall", "mean"), ndcg=("ndcg", "mean")
        )
        rows += [{"dimension": dim, "member": m, **r} for m, r in g.iterrows()]
    seen = h.train[[C.CUSTOMER_ID, C.SKU]].drop_duplicates().assign(_seen=True)
    truth = h.truth_all.merge(seen, on=[C.CUSTOMER_ID, C.SKU], how="left")
    for member, part in (
        ("repeat", truth[truth["_seen"].notna()]),
        ("explore", truth[truth["_seen"].isna()]),
    ):
        p = per_customer(recs, part, k)
        rows.append({"dimension": "purchase", "member": member, "customers": len(p),
                     "recall": p["recall"].mean(), "ndcg": p["ndcg"].mean()})  # fmt: skip
    top = recs[recs[RANK] <= k].merge(seen, on=[C.CUSTOMER_ID, C.SKU], how="left")
    rows.append({"dimension": "list", "member": "repeat_share", "customers": top[C.CUSTOMER_ID].nunique(),
                 "recall": float(top["_seen"].notna().mean()) if len(top) else float("nan"),
                 "ndcg": float("nan")})  # fmt: skip
    return pd.DataFrame(rows)


def evaluate(
    model: Recommender,
    h: Holdout,
    ks: Sequence[int] = (5, 10, 20),
    allowed: np.ndarray | None = None,
    lifecycle: Mapping[str, str] | None = None,
    cold_segments: Mapping[str, str] | None = None,
) -> tuple[dict[str, float], dict[str, pd.DataFrame]]:
    """Metrics (``all/recall_at_20`` …) and the recommendation tables they came from."""
    kmax = max(ks)
    n_items = len(model.items_)
    customers = sorted(h.truth_all[C.CUSTOMER_ID].unique())
    recs = {
        "all": model.recommend(customers, kmax, allowed=allowed),
        "new": model.recommend(
            sorted(h.truth_new[C.CUSTOMER_ID].unique()), kmax, allowed=allowed, exclude_seen=True
        ),
        "cold": model.recommend(
            sorted(h.truth_cold[C.CUSTOMER_ID].unique()),
            kmax,
            allowed=allowed,
            cold_segments=cold_segments,
        ),
    }
    truths = {"all": h.truth_all, "new": h.truth_new, "cold": h.truth_cold}
    metrics: dict[str, float] = {}
    for variant, r in recs.items():
        if r.empty:
            continue
        for k in ks:
            pc = per_customer(r, truths[variant], k)
            metrics[f"{variant}/recall_at_{k}"] = float(pc["recall"].mean())
            metrics[f"{variant}/ndcg_at_{k}"] = float(pc["ndcg"].mean())
            metrics[f"{variant}/map_at_{k}"] = float(pc["ap"].mean())
        metrics[f"{variant}/coverage_at_{kmax}"] = catalogue_coverage(r, n_items, kmax)
        metrics[f"{variant}/novelty_at_{kmax}"] = novelty(r, h.train, kmax)
        metrics[f"{variant}/customers"] = float(r[C.CUSTOMER_ID].nunique())
    if not recs["all"].empty:
        for r in breakdown(recs["all"], h, kmax, lifecycle).itertuples():
            if r.dimension == "list":
                metrics[f"all/{r.member}_at_{kmax}"] = float(r.recall)
                continue
            # lifecycle stages keep their first name (all/segment/<stage>/…)
            dim = "segment" if r.dimension == "lifecycle" else r.dimension
            metrics[f"all/{dim}/{r.member}/recall_at_{kmax}"] = float(r.recall)
            metrics[f"all/{dim}/{r.member}/ndcg_at_{kmax}"] = float(r.ndcg)
    return metrics, recs
