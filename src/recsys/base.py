"""The one recommendation interface.

``Recommender.fit(interactions)`` takes the interaction table (``customer_id, sku, weight, ts``)
and keeps the id <-> index mappings; ``recommend(customer_ids, k, …)`` returns
``customer_id, rank, sku, score, reason`` (rank from 1); ``similar_items(skus, k)`` returns
``sku, rank, similar_sku, score``; ``save`` / ``load`` round-trip the model with its mappings.

Subclasses only score: ``_score(rows) -> (len(rows), n_items)`` for known customers. The base
class applies the request's rules (an allowed-items mask, excluded items, already-bought items)
and fills what a model does not score with recent popularity (``reason =
"popular_fill"``). Customers the model has never seen get the **cold-start fallback**: popularity
within their segment (lifecycle stage, country …) when one is given, else overall
(``reason = "cold_start"``).
"""

from __future__ import annotations

import pickle
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from src.features import columns as C
from src.recsys.sparse import top_k_rows

RANK = "rank"
SCORE = "score"
REASON = "reason"
COLD_START = "cold_start"
POPULAR_FILL = "popular_fill"
SIMILAR_SKU = "similar_sku"
BATCH = 1024
DENSE_CELLS = (
    4_000_000  # scores held at once (rows x items): the batch shrinks as the catalogue grows
)


class Recommender(ABC):
    name = "recommender"

    def __init__(self, popularity_days: int = 90):
        self.popularity_days = popularity_days

    # --- fitting ----------------------------------------------------------------------------
    def fit(
        self, interactions: pd.DataFrame, segments: Mapping[str, str] | None = None
    ) -> Recommender:
        """``segments``: optional customer_id -> segment label, for the cold-start fallback."""
        missing = [c for c in (C.CUSTOMER_ID, C.SKU, C.WEIGHT) if c not in interactions]
        if missing:
            raise ValueError(f"interactions lack {missing}; expected customer_id, sku, weight, ts")
        if interactions.empty:
            raise ValueError("no interactions to fit on")
        # sorted ids: the model (random initialisation, ties between equal scores) does not
        # depend on the order rows arrive in, however the interactions were stored or split
        customer_ids = interactions[C.CUSTOMER_ID].astype(str)
        skus = interactions[C.SKU].astype(str)
        self.customers_ = pd.Index(np.sort(pd.unique(customer_ids)), name=C.CUSTOMER_ID)
        self.items_ = pd.Index(np.sort(pd.unique(skus)), name=C.SKU)
        rows = self.customers_.get_indexer(customer_ids)
        cols = self.items_.get_indexer(skus)
        X = sp.csr_matrix(
            (interactions[C.WEIGHT].to_numpy(dtype=np.float32), (rows, cols)),
            shape=(len(self.customers_), len(self.items_)),
        )
        X.sum_duplicates()
        self.X_ = X
        self.popularity_ = self._popularity(interactions)
        self.segment_popularity_ = self._segment_popularity(interactions, segments)
        self.segments_ = dict(segments) if segments is not None else {}
        self._fit(interactions)
        return self

    def _popularity(self, interactions: pd.DataFrame) -> np.ndarray:
        return self._grouped_popularity(interactions, np.zeros(len(interactions), np.int8))[0]

    def _segment_popularity(
        self, interactions: pd.DataFrame, segments: Mapping[str, str] | None
    ) -> dict[str, np.ndarray]:
        if not segments:
            return {}
        seg = interactions[C.CUSTOMER_ID].astype(str).map(segments)
        ok = seg.notna().to_numpy()
        return self._grouped_popularity(interactions[ok], seg.to_numpy()[ok]) if ok.any() else {}

    def _grouped_popularity(
        self, interactions: pd.DataFrame, groups: np.ndarray
    ) -> dict[object, np.ndarray]:
        """Per group: distinct buyers of each item over the group's last ``popularity_days``
        (the window ends at the group's own last event), scaled to a maximum of 1. One grouped
        pass: a boolean mask per segment over the object customer column cost ~1 s per fit on
        the embedded data, paid by every candidate model the hybrid fits."""
        df = pd.DataFrame(
            {
                "group": groups,
                C.SKU: interactions[C.SKU].astype(str).to_numpy(),
                C.CUSTOMER_ID: interactions[C.CUSTOMER_ID].to_numpy(),
            }
        )
        if C.TS in interactions and self.popularity_days:
            ts = interactions[C.TS].reset_index(drop=True)
            last = ts.groupby(df["group"]).transform("max")
            df = df[(ts > last - pd.Timedelta(days=self.popularity_days)).to_numpy()]
        counts = df.groupby(["group", C.SKU])[C.CUSTOMER_ID].nunique()
        present = set(counts.index.get_level_values(0))
        out = {}
        for g in pd.unique(groups):
            pop = (
                counts.loc[g].reindex(self.items_).fillna(0.0).to_numpy(dtype=np.float64)
                if g in present
                else np.zeros(len(self.items_))
            )
            out[g] = pop / pop.max() if pop.max() > 0 else pop
        return out

    @abstractmethod
    def _fit(self, interactions: pd.DataFrame) -> None: ...

    @abstractmethod
    def _score(self, rows: np.ndarray) -> np.ndarray:
        """Dense scores (len(rows), n_items); NaN or -inf = not scored by this model."""

    # --- recommending -----------------------------------------------------------------------
    def recommend(
        self,
        customer_ids: Sequence[str],
        k: int = 10,
        *,
        exclude_seen: bool = False,
        allowed: np.ndarray | None = None,
        exclude_skus: Sequence[str] = (),
        cold_segments: Mapping[str, str] | None = None,
    ) -> pd.DataFrame:
        """Top-``k`` per customer.

        ``allowed``: boolean mask over ``self.items_`` (e.g. in stock, merchandise, available in
        the channel); ``exclude_skus``: never returned; ``cold_segments``: segment of customers
        unseen in training.
        """
        if k < 1:
            raise ValueError("k must be at least 1")
        ids = pd.Index([str(c) for c in customer_ids])
        mask = (
            np.ones(len(self.items_), dtype=bool)
            if allowed is None
            else np.asarray(allowed, bool).copy()
        )
        if exclude_skus:
            mask &= ~self.items_.isin([str(s) for s in exclude_skus])
        rows = self.customers_.get_indexer(ids)
        known = rows >= 0
        parts = []
        batch = self.batch_size()
        for start in range(0, int(known.sum()), batch):
            batch_ids = ids[known][start : start + batch]
            batch_rows = rows[known][start : start + batch]
            parts.append(self._top_known(batch_ids, batch_rows, k, mask, exclude_seen))
        cold = ids[~known]
        if len(cold):
            parts.append(self._top_cold(cold, k, mask, cold_segments or {}))
        if not parts:
            return pd.DataFrame(columns=[C.CUSTOMER_ID, RANK, C.SKU, SCORE, REASON])
        out = pd.concat(parts, ignore_index=True)
        order = pd.Series(np.arange(len(ids)), index=ids)
        out["_o"] = out[C.CUSTOMER_ID].map(order)
        return (
            out.sort_values(["_o", RANK], kind="stable").drop(columns="_o").reset_index(drop=True)
        )

    def candidates(
        self, customer_ids: Sequence[str], n: int, *, exclude_seen: bool = False
    ) -> pd.DataFrame:
        """The model's own top-``n`` for known customers — no popularity fill, no business
        rules: what a re-ranker takes as candidates (``customer_id, sku, score, rank``). Models
        taking the sparse path (:meth:`_sparse_candidates`) never build a dense (customers x
        items) matrix here, so candidate generation costs what the customers bought, not the
        catalogue; the others are ranked in dense blocks of :meth:`batch_size` customers. Either
        way a customer's candidates come in item order, so equal scores rank the same."""
        ids = pd.Index([str(c) for c in customer_ids])
        rows = self.customers_.get_indexer(ids)
        ids, rows = ids[rows >= 0], rows[rows >= 0]
        parts = []
        sparse = self._sparse_candidates()
        batch = BATCH if sparse else self.batch_size()
        for start in range(0, len(rows), batch):
            r = rows[start : start + batch]
            if sparse:
                M = self._score_sparse(r).tocsr()
                if exclude_seen:
                    M = M - M.multiply(self.X_[r] > 0)
                M.eliminate_zeros()
                M = top_k_rows(M, n).tocoo()
                i, j, v = M.row, M.col, M.data
            else:
                # one negated copy in the model's own precision (float32 scores were upcast and
                # negated in two more full copies: a third of candidate time at grocery size)
                raw = np.asarray(self._candidate_scores(r))
                neg = np.negative(raw, dtype=np.promote_types(raw.dtype, np.float32))
                neg[~np.isfinite(neg)] = np.inf
                if exclude_seen:
                    neg[self.X_[r].nonzero()] = np.inf
                kk = min(n, neg.shape[1])
                top = np.argpartition(neg, kk - 1, axis=1)[:, :kk]
                # in item order, as the sparse path gives them: equal scores rank by item
                top.sort(axis=1)
                i, j = np.repeat(np.arange(len(r)), kk), top.ravel()
                v = -neg[i, j].astype(np.float64)
                ok = np.isfinite(v)
                i, j, v = i[ok], j[ok], v[ok]
            parts.append(pd.DataFrame({C.CUSTOMER_ID: ids[start : start + batch].to_numpy()[i],
                                       C.SKU: self.items_.to_numpy()[j], SCORE: v}))  # fmt: skip
        if not parts:
            return pd.DataFrame(columns=[C.CUSTOMER_ID, C.SKU, SCORE, RANK])
        out = pd.concat(parts, ignore_index=True)
        out[RANK] = (
            out.groupby(C.CUSTOMER_ID, sort=False)[SCORE]
            .rank(method="first", ascending=False)
            .astype(int)
        )
        return out

    def _sparse_candidates(self) -> bool:
        """Whether :meth:`candidates` takes the model's sparse scores (:meth:`_score_sparse`) or
        dense ones (:meth:`_candidate_scores`, :meth:`batch_size` customers at a time)."""
        return type(self)._score_sparse is not Recommender._score_sparse

    def _candidate_scores(self, rows: np.ndarray) -> np.ndarray:
        """Dense scores for :meth:`candidates`; NaN or -inf = not a candidate."""
        return self._score(rows)

    def _score_sparse(self, rows: np.ndarray) -> sp.spmatrix | None:
        """Sparse scores (zero = not scored) where the model's scores are naturally sparse;
        ``None`` for dense models."""
        return None

    def batch_size(self) -> int:
        """Customers scored at once: dense (customers x items) scores stay near
        :data:`DENSE_CELLS` cells, so memory does not grow with the catalogue."""
        return int(np.clip(DENSE_CELLS // max(len(self.items_), 1), 16, BATCH))

    def _top_known(self, ids, rows, k, mask, exclude_seen) -> pd.DataFrame:
        raw = np.asarray(self._score(rows), dtype=np.float64)
        scored = np.isfinite(raw)
        # model scores rank above everything it did not score, which falls back to popularity
        low = np.min(np.where(scored, raw, np.inf), axis=1, keepdims=True)
        shifted = np.where(scored, raw - np.where(np.isfinite(low), low, 0.0) + 1e-6, 0.0)
        fill = self.popularity_
        score = np.where(scored, shifted + fill.max() + 1.0, fill)
        allowed = np.broadcast_to(mask, score.shape).copy()
        if exclude_seen:
            seen = self.X_[rows]
            allowed[seen.nonzero()] = False
        return self._top_k(
            ids,
            score,
            allowed,
            k,
            reasons=(~scored, POPULAR_FILL),
            shown=np.where(scored, raw, self.popularity_),
        )

    def _top_scored(self, ids, rows, k, mask, exclude_seen, who, cols, values) -> pd.DataFrame:
        """:meth:`_top_known` from sparse scores — ``values`` of items ``cols`` for customers
        ``ids[who]`` — without a dense (customers x items) matrix: the scored items first by
        score, then the popularity fill, under the same rules (allowed mask, already bought)."""
        n = len(ids)
        ok = mask[cols] & np.isfinite(values)
        if exclude_seen:
            ok &= np.asarray(self.X_[rows[who], cols]).ravel() == 0
        top = pd.DataFrame({"c": who[ok], "j": cols[ok], "v": values[ok]})
        top = top.sort_values(["c", "v"], ascending=[True, False], kind="stable")
        top = top[top.groupby("c").cumcount() < k]
        have = np.bincount(top["c"].to_numpy(), minlength=n)
        need = k - have
        fills = []
        if need.any():
            # popularity fill: the most popular allowed items, minus what is scored or bought
            order = np.argsort(-self.popularity_, kind="stable")
            order = order[mask[order]]
            pool = order[: k + int(self.X_[rows].getnnz(axis=1).max(initial=0)) * exclude_seen + k]
            c = np.repeat(np.flatnonzero(need > 0), len(pool))
            j = np.tile(pool, int((need > 0).sum()))
            width = len(self.items_)
            drop = np.isin(
                c.astype(np.int64) * width + j,
                top["c"].to_numpy(np.int64) * width + top["j"].to_numpy(),
            )
            if exclude_seen:
                drop |= np.asarray(self.X_[rows[c], j]).ravel() != 0
            c, j = c[~drop], j[~drop]
            fill = pd.DataFrame({"c": c, "j": j, "v": self.popularity_[j]})
            fills.append(fill[fill.groupby("c").cumcount() < need[fill["c"].to_numpy()]])
        out = pd.concat(
            [top.assign(reason=None), *[f.assign(reason=POPULAR_FILL) for f in fills]],
            ignore_index=True,
        )
        out = out.sort_values("c", kind="stable")
        return pd.DataFrame({
            C.CUSTOMER_ID: np.asarray(ids, dtype=object)[out["c"].to_numpy()],
            RANK: out.groupby("c").cumcount().to_numpy() + 1,
            C.SKU: self.items_.to_numpy()[out["j"].to_numpy()],
            SCORE: out["v"].to_numpy(float),
            REASON: out["reason"].to_numpy(object),
        })  # fmt: skip

    def _top_cold(self, ids, k, mask, segments) -> pd.DataFrame:
        pop = np.vstack(
            [self.segment_popularity_.get(segments.get(c), self.popularity_) for c in ids]
        )
        score = pop
        allowed = np.broadcast_to(mask, score.shape)
        return self._top_k(
            ids,
            score,
            allowed,
            k,
            reasons=(True, COLD_START),
            shown=pop,
        )

    def _top_k(self, ids, score, allowed, k, reasons, shown) -> pd.DataFrame:
        """``reasons`` = (where it applies — a mask over ``score`` or a scalar —, the reason)."""
        score = np.where(allowed, score, -np.inf)
        kk = min(k, score.shape[1])
        top = np.argpartition(-score, kk - 1, axis=1)[:, :kk]
        order = np.take_along_axis(score, top, axis=1).argsort(axis=1)[:, ::-1]
        top = np.take_along_axis(top, order, axis=1)
        top_score = np.take_along_axis(score, top, axis=1)
        valid = np.isfinite(top_score)
        n = len(ids)
        r = np.repeat(np.arange(n), kk)
        out = pd.DataFrame(
            {
                C.CUSTOMER_ID: np.asarray(ids, dtype=object)[r],
                RANK: np.tile(np.arange(1, kk + 1), n),
                C.SKU: self.items_.to_numpy()[top.ravel()],
                SCORE: np.take_along_axis(np.asarray(shown, float), top, axis=1).ravel(),
                # the reason only where it applies, looked up for the top k alone (an object
                # array over every item would cost more than the scoring)
                REASON: np.where(
                    np.take_along_axis(np.broadcast_to(reasons[0], score.shape), top, axis=1),
                    reasons[1],
                    None,
                ).ravel(),
            }
        )
        out = out[valid.ravel()].reset_index(drop=True)
        out[RANK] = out.groupby(C.CUSTOMER_ID, sort=False).cumcount() + 1
        return out

    def similar_items(self, skus: Sequence[str], k: int = 10) -> pd.DataFrame:
        """Items most similar to each of ``skus`` (cosine over co-purchases by default)."""
        cols = self.items_.get_indexer([str(s) for s in skus])
        unknown = [s for s, c in zip(skus, cols, strict=True) if c < 0]
        if unknown:
            raise KeyError(f"unknown sku(s): {unknown[:5]}")
        sim = self._item_similarity(cols)
        sim[np.arange(len(cols)), cols] = -np.inf
        kk = min(k, len(self.items_) - 1)
        top = np.argsort(-sim, axis=1)[:, :kk]
        return pd.DataFrame(
            {
                C.SKU: np.repeat([str(s) for s in skus], kk),
                RANK: np.tile(np.arange(1, kk + 1), len(cols)),
                SIMILAR_SKU: self.items_.to_numpy()[top.ravel()],
                SCORE: np.take_along_axis(sim, top, axis=1).ravel(),
            }
        )

    def _item_similarity(self, cols: np.ndarray) -> np.ndarray:
        Xb = (self.X_ > 0).astype(np.float32).tocsc()
        norms = np.sqrt(np.asarray(Xb.multiply(Xb).sum(axis=0)).ravel()) + 1e-9
        co = (Xb[:, cols].T @ Xb).toarray()
        return co / norms[cols][:, None] / norms[None, :]

    # --- persistence ------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with open(path / "recommender.pkl", "wb") as fh:
            pickle.dump(self, fh)
        return path

    @staticmethod
    def load(path: str | Path) -> Recommender:
        with open(Path(path) / "recommender.pkl", "rb") as fh:
            model = pickle.load(fh)
        if not isinstance(model, Recommender):
            raise TypeError(f"{path} does not hold a Recommender")
        return model
