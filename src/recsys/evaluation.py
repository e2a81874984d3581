"""Temporal evaluation of recommenders (customer x SKU purchases after a cutoff).

* **test customers**: bought before the cutoff and in the test window; truth = distinct SKUs they
  bought in the window;
* **all**: repeat purchases count; **new**: items bought before the cutoff are excluded from the
  recommendations and from the truth, customers with no new item are dropped;
* **cold start**: customers who bought in the window but never before; they get the fallback;
* figures per lifecycle segment (as of the cutoff) for the *all* variant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from src.features import columns as C
from src.recsys.base import Recommender
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
    if lifecycle:
        pc = per_customer(recs["all"], truths["all"], kmax)
        by = pc.groupby(pc.index.map(lambda c: lifecycle.get(c, "unknown")))["recall"].mean()
        for segment, value in by.items():
            metrics[f"all/segment/{segment}/recall_at_{kmax}"] = float(value)
    return metrics, recs
