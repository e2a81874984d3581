"""Top-k recommendation metrics as pure functions over two long tables.

``recs``: ``customer_id, sku, rank`` (rank from 1); ``truth``: ``customer_id, sku`` (what each
customer bought in the test period). Averages run over the customers in ``truth`` that also
appear in ``recs`` — a customer with no recommendation scores 0 only if included in ``recs``.

* recall@k = hits in the top k / |truth|;
* NDCG@k with binary relevance: Σ 1/log2(rank+1) over hits / the ideal for min(|truth|, k);
* MAP@k: Σ precision@rank over hits / min(|truth|, k);
* catalogue coverage = distinct recommended SKUs / catalogue size;
* novelty = mean of −log2(popularity share) of recommended items.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from src.features import columns as C
from src.recsys.base import RANK


def _hits(recs: pd.DataFrame, truth: pd.DataFrame, k: int) -> pd.DataFrame:
    top = recs[recs[RANK] <= k][[C.CUSTOMER_ID, C.SKU, RANK]]
    t = truth[[C.CUSTOMER_ID, C.SKU]].drop_duplicates()
    hits = top.merge(t, on=[C.CUSTOMER_ID, C.SKU], how="left", indicator=True)
    return hits.assign(_hit=hits.pop("_merge").eq("both"))


def per_customer(recs: pd.DataFrame, truth: pd.DataFrame, k: int) -> pd.DataFrame:
    """recall, ndcg and ap at ``k`` for every customer in ``truth`` that has recommendations."""
    t = truth[[C.CUSTOMER_ID, C.SKU]].drop_duplicates()
    n_true = t.groupby(C.CUSTOMER_ID).size().rename("n_true")
    h = _hits(recs, t, k)
    h = h[h[C.CUSTOMER_ID].isin(n_true.index)]
    h["gain"] = np.where(h["_hit"], 1.0 / np.log2(h[RANK] + 1.0), 0.0)
    h = h.sort_values([C.CUSTOMER_ID, RANK])
    h["cum_hits"] = h.groupby(C.CUSTOMER_ID)["_hit"].cumsum()
    h["prec_at_hit"] = np.where(h["_hit"], h["cum_hits"] / h[RANK], 0.0)
    g = h.groupby(C.CUSTOMER_ID).agg(
        hits=("_hit", "sum"), dcg=("gain", "sum"), ap_sum=("prec_at_hit", "sum")
    )
    g = g.join(n_true, how="inner")
    denom = np.minimum(g["n_true"], k)
    ideal = denom.map(lambda m: float(np.sum(1.0 / np.log2(np.arange(2, m + 2)))))
    return pd.DataFrame(
        {
            "recall": g["hits"] / g["n_true"],
            "ndcg": g["dcg"] / ideal,
            "ap": g["ap_sum"] / denom,
            "n_true": g["n_true"],
        }
    )


def recall_at_k(recs: pd.DataFrame, truth: pd.DataFrame, k: int) -> float:
    return float(per_customer(recs, truth, k)["recall"].mean())


def ndcg_at_k(recs: pd.DataFrame, truth: pd.DataFrame, k: int) -> float:
    return float(per_customer(recs, truth, k)["ndcg"].mean())


def map_at_k(recs: pd.DataFrame, truth: pd.DataFrame, k: int) -> float:
    return float(per_customer(recs, truth, k)["ap"].mean())


def catalogue_coverage(recs: pd.DataFrame, n_items: int, k: int) -> float:
    return float(recs.loc[recs[RANK] <= k, C.SKU].nunique() / n_items) if n_items else 0.0


def novelty(recs: pd.DataFrame, interactions: pd.DataFrame, k: int) -> float:
    share = (
        interactions.groupby(C.SKU)[C.CUSTOMER_ID].nunique() / interactions[C.CUSTOMER_ID].nunique()
    )
    p = recs.loc[recs[RANK] <= k, C.SKU].map(share).dropna()
    return float((-np.log2(p)).mean()) if len(p) else float("nan")
