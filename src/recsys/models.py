"""Recommenders: recent popularity, buy-again, item-kNN, ALS and BPR (implicit), EASE.

* :class:`Popularity` — distinct buyers per item over the last ``days``;
* :class:`BuyAgain` — items the customer bought, scored by frequency with a recency decay
  (half-life ``half_life_days``); everything else falls back to popularity;
* :class:`ItemKNN` — cosine similarity between items over co-purchases, top ``k_neighbours`` per
  item; a customer's score sums the similarities of what they bought;
* :class:`ALS`, :class:`BPR` — matrix factorisation from ``implicit`` (CPU by default);
* :class:`EASE` — Steck (2019): closed-form item-item weights B = I - P / diag(P),
  P = (XᵀX + λI)⁻¹, over the ``max_items`` most popular items.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import scipy.sparse as sp

from src.features import columns as C
from src.recsys.base import Recommender
from src.recsys.sparse import blockwise_item_item, top_k_rows


class Popularity(Recommender):
    name = "popularity"

    def __init__(self, days: int = 90):
        super().__init__(popularity_days=days)

    def _fit(self, interactions: pd.DataFrame) -> None:
        pass

    def _score(self, rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.popularity_, (len(rows), len(self.items_))).copy()


class BuyAgain(Recommender):
    name = "buy_again"

    def __init__(self, half_life_days: float = 60.0, popularity_days: int = 90):
        super().__init__(popularity_days)
        self.half_life_days = half_life_days

    def _fit(self, interactions: pd.DataFrame) -> None:
        # one row per purchase (event level) or per customer x item (aggregated): each row adds
        # log(1 + weight) decayed by its age, so frequency and recency both count
        rows = self.customers_.get_indexer(interactions[C.CUSTOMER_ID].astype(str))
        cols = self.items_.get_indexer(interactions[C.SKU].astype(str))
        age = (interactions[C.TS].max() - interactions[C.TS]).dt.total_seconds().to_numpy() / 86400
        score = np.log1p(interactions[C.WEIGHT].to_numpy()) * np.power(
            0.5, age / self.half_life_days
        )
        self.S_ = sp.csr_matrix((score, (rows, cols)), shape=self.X_.shape)
        self.S_.sum_duplicates()

    def _score(self, rows: np.ndarray) -> np.ndarray:
        dense = self._score_sparse(rows).toarray()
        return np.where(dense > 0, dense, np.nan)

    def _score_sparse(self, rows: np.ndarray) -> sp.csr_matrix:
        return self.S_[rows]


class ItemKNN(Recommender):
    name = "item_knn"

    def __init__(self, k_neighbours: int = 100, popularity_days: int = 90):
        super().__init__(popularity_days)
        self.k_neighbours = k_neighbours

    def _fit(self, interactions: pd.DataFrame) -> None:
        Xb = (self.X_ > 0).astype(np.float32)
        norms = np.sqrt(np.asarray(Xb.sum(axis=0)).ravel()) + 1e-9
        Xn = (Xb @ sp.diags((1 / norms).astype(np.float32))).tocsr()
        # cosine in column blocks with top-(k+1) per item (itself included, then dropped): the
        # full item x item product never exists, whatever the catalogue's size
        co = blockwise_item_item(Xn, Xn, self.k_neighbours + 1)
        co.setdiag(0)
        co.eliminate_zeros()
        self.W_ = top_k_rows(co, self.k_neighbours)

    def _score(self, rows: np.ndarray) -> np.ndarray:
        Xb = (self.X_[rows] > 0).astype(np.float32)
        return np.asarray((Xb @ self.W_.T).todense())

    def _score_sparse(self, rows: np.ndarray) -> sp.csr_matrix:
        return (self.X_[rows] > 0).astype(np.float32) @ self.W_.T

    def _item_similarity(self, cols: np.ndarray) -> np.ndarray:
        return self.W_[cols].toarray()


class _Implicit(Recommender):
    """Shared plumbing of the implicit models (they expect a user x item CSR)."""

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.01,
        iterations: int = 15,
        alpha: float = 1.0,
        random_state: int = 0,
        popularity_days: int = 90,
    ):
        super().__init__(popularity_days)
        self.factors = factors
        self.regularization = regularization
        self.iterations = iterations
        self.alpha = alpha
        self.random_state = random_state

    def _fit(self, interactions: pd.DataFrame) -> None:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        model = self._model()
        model.fit(self.X_ * self.alpha if self.alpha != 1 else self.X_, show_progress=False)
        model = model.to_cpu() if hasattr(model, "to_cpu") else model
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)

    def _score(self, rows: np.ndarray) -> np.ndarray:
        return self.user_factors_[rows] @ self.item_factors_.T

    def _item_similarity(self, cols: np.ndarray) -> np.ndarray:
        F = self.item_factors_ / (np.linalg.norm(self.item_factors_, axis=1, keepdims=True) + 1e-9)
        return F[cols] @ F.T


class ALS(_Implicit):
    name = "als"

    def _model(self):
        from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares(
            factors=self.factors,
            regularization=self.regularization,
            iterations=self.iterations,
            random_state=self.random_state,
        )


class BPR(_Implicit):
    name = "bpr"

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.01,
        regularization: float = 0.01,
        iterations: int = 100,
        random_state: int = 0,
        popularity_days: int = 90,
    ):
        super().__init__(factors, regularization, iterations, 1.0, random_state, popularity_days)
        self.learning_rate = learning_rate

    def _model(self):
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        return BayesianPersonalizedRanking(
            factors=self.factors,
            learning_rate=self.learning_rate,
            regularization=self.regularization,
            iterations=self.iterations,
            random_state=self.random_state,
        )


def _spd_inverse(G: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive definite Gram matrix (EASE's X'X + λI) by Cholesky in
    the matrix's precision: ~4x faster than a general float64 LU inverse at 4,600 items, and B
    is kept in float32 anyway (relative difference of B ~1e-8). A matrix that is not positive
    definite (λ = 0 with a rank-deficient X'X) falls back to the pseudo-inverse."""
    from scipy.linalg import lapack

    potrf, potri = (
        (lapack.spotrf, lapack.spotri) if G.dtype == np.float32 else (lapack.dpotrf, lapack.dpotri)
    )
    c, info = potrf(G, lower=False, clean=False, overwrite_a=False)
    if info == 0:
        upper, info = potri(c, lower=False, overwrite_c=True)
        if info == 0:
            return np.triu(upper) + np.triu(upper, 1).T
    return np.linalg.pinv(G.astype(np.float64)).astype(G.dtype)


class EASE(Recommender):
    name = "ease"

    def __init__(self, lambda_: float = 500.0, max_items: int = 5000, popularity_days: int = 90):
        super().__init__(popularity_days)
        self.lambda_ = lambda_
        self.max_items = max_items

    def _fit(self, interactions: pd.DataFrame) -> None:
        Xb = (self.X_ > 0).astype(np.float64)
        counts = np.asarray(Xb.sum(axis=0)).ravel()
        keep = np.sort(np.argsort(-counts)[: self.max_items])
        G = (Xb[:, keep].T @ Xb[:, keep]).toarray().astype(np.float32)
        G[np.diag_indices_from(G)] += self.lambda_
        P = _spd_inverse(G)
        B = -P / np.diag(P)
        B[np.diag_indices_from(B)] = 0.0
        self.keep_ = keep
        self.B_ = B.astype(np.float32, copy=False)

    def _score(self, rows: np.ndarray) -> np.ndarray:
        out = np.full((len(rows), len(self.items_)), np.nan, dtype=np.float32)
        Xb = (self.X_[rows][:, self.keep_] > 0).astype(np.float32)
        out[:, self.keep_] = Xb @ self.B_
        return out

    def _item_similarity(self, cols: np.ndarray) -> np.ndarray:
        sim = np.full((len(cols), len(self.items_)), -np.inf)
        pos = pd.Index(self.keep_).get_indexer(cols)
        ok = pos >= 0
        sim[np.ix_(ok, self.keep_)] = self.B_[pos[ok]]
        return sim
