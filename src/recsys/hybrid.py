"""Hybrid recommender: candidates from several models, re-ranked by LightGBM (LambdaRank).

Fitting on event-level interactions (one row per customer x item x purchase, with ``ts``):

1. the last ``label_days`` become labels, everything before is history (``mode="new"``: only
   items the customer had not bought before count, and candidates exclude bought items);
2. the candidate models are fitted on the history; each proposes its top ``n_candidates`` per
   customer; the union is the candidate set;
3. features per (customer, item): every candidate model's score and rank; how often and how
   recently the customer bought the item, counted in days and in the customer's own orders
   (share of their orders since the first purchase that included it, orders since the last),
   its purchase cycle and how due it is (against the customer's gaps and the item's usual
   cycle); item popularity over 30 / 90 days and its trend, its repeat share, and the season
   (buyers in the label window's days one year earlier, against the window before); customer
   frequency, recency, breadth, basket size, purchase gap and repeat share (the RFM-style
   signals and how much the customer re-buys) — plus a lifecycle stage code when ``segments``
   are given;
4. label = the customer bought the item in the label window; LambdaRank, grouped by customer;
   with ``label_windows`` > 1, steps 1–3 repeat for the ``label_days`` windows before (each with
   candidate models fitted on its own history, so nothing leaks) and the ranker learns from every
   (window, customer) group — more groups, and the same customers at other moments of the year;
   ``max_fit_events`` caps the events all those candidate fits see, so a large catalogue gets
   fewer windows instead of a longer fit;
5. the candidate models are refitted on all events for recommending.

Items outside the candidate set are left to the base class's popularity fill.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd

from src.features import columns as C
from src.recsys.base import RANK, SCORE, Recommender


class Hybrid(Recommender):
    name = "hybrid"

    def __init__(
        self,
        candidates: Mapping[str, Callable[[], Recommender]],
        mode: str = "all",
        n_candidates: int = 50,
        label_days: int = 28,
        label_windows: int = 1,
        max_fit_events: int | None = None,
        max_train_customers: int = 4000,
        num_boost_round: int = 200,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_data_in_leaf: int = 50,
        seed: int = 0,
        popularity_days: int = 90,
    ):
        super().__init__(popularity_days)
        if mode not in ("all", "new"):
            raise ValueError("hybrid mode must be 'all' (repeat purchases count) or 'new'")
        self.mode = mode
        self.name = "hybrid" if mode == "all" else "hybrid_new"
        self.candidates = dict(candidates)
        self.n_candidates = n_candidates
        self.label_days = label_days
        if int(label_windows) < 1:
            raise ValueError("hybrid label_windows must be >= 1")
        self.label_windows = int(label_windows)
        self.max_fit_events = None if max_fit_events is None else int(max_fit_events)
        self.max_train_customers = max_train_customers
        self.params = {
            "objective": "lambdarank",
            "metric": "ndcg",
            "eval_at": [20],
            "learning_rate": learning_rate,
            "num_leaves": num_leaves,
            "min_data_in_leaf": min_data_in_leaf,
            "seed": seed,
            "verbosity": -1,
            "num_threads": 0,
        }
        self.num_boost_round = num_boost_round
        self.seed = seed

    def __getstate__(self):
        # candidate factories are only needed to fit; the fitted models travel with the hybrid
        state = dict(self.__dict__)
        state["candidates"] = {}
        return state

    # --- features ---------------------------------------------------------------------------
    def _candidate_frame(
        self, models: Mapping[str, Recommender], customers: Sequence[str]
    ) -> pd.DataFrame:
        """The union of every model's top ``n_candidates`` per customer, one row per (customer,
        item) in customer then item order, with each model's score (NaN where it did not
        propose the item) and rank (``n_candidates + 1`` there). Built on integer pair keys:
        the chain of outer merges on string keys it replaces was half the cost of recommending."""
        recs = {
            # the model's own picks (no popularity fill); sparse where the model's scores are
            name: model.candidates(customers, self.n_candidates, exclude_seen=self.mode == "new")
            for name, model in models.items()
        }
        who = pd.Index(sorted({str(c) for c in customers}), dtype=object)
        skus = [r[C.SKU].to_numpy(dtype=object) for r in recs.values()]
        what = pd.Index(np.sort(pd.unique(np.concatenate(skus))) if skus else [], dtype=object)
        keys = [
            who.get_indexer(r[C.CUSTOMER_ID]).astype(np.int64) * len(what)
            + what.get_indexer(r[C.SKU])
            for r in recs.values()
        ]
        pairs, inverse = np.unique(
            np.concatenate(keys or [np.array([], np.int64)]), return_inverse=True
        )
        cand = {
            C.CUSTOMER_ID: who.to_numpy()[pairs // max(len(what), 1)],
            C.SKU: what.to_numpy()[pairs % max(len(what), 1)],
        }
        start = 0
        for (name, r), key in zip(recs.items(), keys, strict=True):
            at = inverse[start : start + len(key)]
            start += len(key)
            score = np.full(len(pairs), np.nan)
            rank = np.full(len(pairs), float(self.n_candidates + 1))
            score[at] = r[SCORE].to_numpy(dtype=np.float64)
            rank[at] = r[RANK].to_numpy(dtype=np.float64)
            cand[f"{name}_score"], cand[f"{name}_rank"] = score, rank
        return pd.DataFrame(cand)

    def _context(self, events: pd.DataFrame) -> dict:
        """History signals as of the end of ``events``."""
        now = events[C.TS].max()
        day = events[C.TS].dt.normalize()
        pair = events.groupby([C.CUSTOMER_ID, C.SKU]).agg(
            times_bought=(C.WEIGHT, "size"), first_bought=(C.TS, "min"), last_bought=(C.TS, "max")
        )
        pair["days_since_bought"] = (now - pair["last_bought"]).dt.total_seconds() / 86400
        # purchase-cycle timing: the pair's mean gap between purchase days, and how far through
        # its cycle the customer is (1 = due today)
        n_days = day.groupby([events[C.CUSTOMER_ID], events[C.SKU]]).nunique()
        span = (pair["last_bought"] - pair["first_bought"]).dt.total_seconds() / 86400
        pair["mean_gap"] = np.where(n_days > 1, span / (n_days - 1).clip(lower=1), np.nan)
        pair["due_ratio"] = pair["days_since_bought"] / pair["mean_gap"]
        cust = events.groupby(C.CUSTOMER_ID).agg(
            cust_last=(C.TS, "max"),
            cust_first=(C.TS, "min"),
            cust_items=(C.SKU, "nunique"),
            cust_events=(C.SKU, "size"),
        )
        # the customer's orders (purchase days), numbered from the newest (1 = the last one)
        orders = (
            pd.DataFrame({C.CUSTOMER_ID: events[C.CUSTOMER_ID].to_numpy(), "_day": day.to_numpy()})
            .drop_duplicates()
            .sort_values([C.CUSTOMER_ID, "_day"])
        )
        orders["_from_end"] = orders.groupby(C.CUSTOMER_ID).cumcount(ascending=False) + 1
        cust["cust_orders"] = orders.groupby(C.CUSTOMER_ID).size()
        cust["cust_recency"] = (now - cust["cust_last"]).dt.total_seconds() / 86400
        # repeat propensity (Instacart / next-basket practice): how much of what the customer
        # buys is something they bought on an earlier day, and how big and how regular their
        # baskets are — the ranker's cue to favour repeat or explore candidates for them
        cust["cust_repeat_share"] = 1.0 - cust["cust_items"] / cust["cust_events"]
        cust["cust_basket"] = cust["cust_events"] / cust["cust_orders"]
        tenure = (cust["cust_last"] - cust["cust_first"]).dt.total_seconds() / 86400
        cust["cust_gap"] = np.where(
            cust["cust_orders"] > 1, tenure / (cust["cust_orders"] - 1).clip(lower=1), np.nan
        )
        cust["cust_due"] = cust["cust_recency"] / cust["cust_gap"]
        # the pair against the customer's own orders: orders since its first and last purchase
        from_end = pd.Series(
            orders["_from_end"].to_numpy(),
            index=pd.MultiIndex.from_arrays([orders[C.CUSTOMER_ID], orders["_day"]]),
        )
        who = pair.index.get_level_values(C.CUSTOMER_ID)
        since_first = from_end.reindex(
            pd.MultiIndex.from_arrays([who, pair["first_bought"].dt.normalize()])
        ).to_numpy(dtype=np.float64)
        since_last = from_end.reindex(
            pd.MultiIndex.from_arrays([who, pair["last_bought"].dt.normalize()])
        ).to_numpy(dtype=np.float64)
        pair["buy_rate"] = n_days.reindex(pair.index).to_numpy(dtype=np.float64) / since_first
        pair["orders_since_bought"] = since_last - 1
        item = pd.DataFrame(index=pd.Index(events[C.SKU].unique(), name=C.SKU))
        for days in (30, 90):
            recent = events[events[C.TS] > now - pd.Timedelta(days=days)]
            item[f"pop_{days}"] = recent.groupby(C.SKU)[C.CUSTOMER_ID].nunique()
        item = item.fillna(0.0)
        item["trend"] = (item["pop_30"] * 3 + 1) / (item["pop_90"] + 1)
        # seasonality: who bought the item in the label window's days one year earlier, and how
        # that compares with the window before it (a Christmas line ramps up each November)
        year = now - pd.Timedelta(days=365)
        window = pd.Timedelta(days=self.label_days)
        ahead = events[(events[C.TS] > year) & (events[C.TS] <= year + window)]
        behind = events[(events[C.TS] > year - window) & (events[C.TS] <= year)]
        item["pop_ly"] = ahead.groupby(C.SKU)[C.CUSTOMER_ID].nunique()
        item["pop_ly_before"] = behind.groupby(C.SKU)[C.CUSTOMER_ID].nunique()
        item = item.fillna({"pop_ly": 0.0, "pop_ly_before": 0.0})
        item["season_ratio"] = (item["pop_ly"] + 1) / (item["pop_ly_before"] + 1)
        # the item's typical re-buy cycle (median over its repeat buyers of their mean gap)
        item["item_gap"] = pair["mean_gap"].groupby(level=C.SKU).median().reindex(item.index)
        pair["bought_ly"] = (
            ahead.groupby([C.CUSTOMER_ID, C.SKU]).size().reindex(pair.index).fillna(0.0)
        )
        # how much the item is a repeat buy: share of its buyers who bought it on 2+ days
        item["repeat_share"] = (
            (n_days > 1).groupby(level=C.SKU).mean().reindex(item.index).fillna(0.0)
        )
        return {
            "pair": pair[
                [
                    "times_bought",
                    "days_since_bought",
                    "mean_gap",
                    "due_ratio",
                    "buy_rate",
                    "orders_since_bought",
                    "bought_ly",
                ]
            ],
            "cust": cust[
                [
                    "cust_orders",
                    "cust_recency",
                    "cust_items",
                    "cust_repeat_share",
                    "cust_basket",
                    "cust_gap",
                    "cust_due",
                ]
            ],
            "item": item,
        }

    def _features(self, cand: pd.DataFrame, ctx: dict) -> pd.DataFrame:
        # left joins by index lookup into arrays, attached to the candidate frame in one concat
        # (merging copied the wide frame three times; inserting ~20 columns one by one copied
        # it as pandas consolidated its blocks — together a fifth of recommending's cost)
        keys = {
            "pair": pd.MultiIndex.from_arrays([cand[C.CUSTOMER_ID], cand[C.SKU]]),
            "cust": cand[C.CUSTOMER_ID],
            "item": cand[C.SKU],
        }
        new: dict[str, np.ndarray] = {}
        for part, key in keys.items():
            table = ctx[part]
            at = table.index.get_indexer(key)
            found = at >= 0
            for col in table.columns:
                values = table[col].to_numpy(dtype=np.float64)
                new[col] = (
                    np.where(found, values[np.where(found, at, 0)], np.nan)
                    if len(values)
                    else np.full(len(cand), np.nan)
                )
        for col, missing in (
            ("times_bought", 0.0),
            ("days_since_bought", 9999.0),
            ("bought_ly", 0.0),
        ):
            new[col] = np.where(np.isnan(new[col]), missing, new[col])
        # how far through the item's usual cycle the customer is (NaN if never bought)
        with np.errstate(divide="ignore", invalid="ignore"):
            new["item_due"] = np.where(
                new["times_bought"] > 0, new["days_since_bought"] / new["item_gap"], np.nan
            )
        if self.segments_:
            codes = {s: i for i, s in enumerate(sorted(set(self.segments_.values())))}
            new["segment"] = (
                cand[C.CUSTOMER_ID].map(self.segments_).map(codes).fillna(-1).to_numpy()
            )
        return pd.concat([cand, pd.DataFrame(new, index=cand.index)], axis=1)

    def feature_columns(self, f: pd.DataFrame) -> list[str]:
        return [c for c in f.columns if c not in (C.CUSTOMER_ID, C.SKU, "label")]

    # --- fit / score ------------------------------------------------------------------------
    def _training_frame(
        self, hist: pd.DataFrame, label: pd.DataFrame, rng: np.random.Generator
    ) -> tuple[pd.DataFrame, int]:
        """Candidates of models fitted on ``hist``, featured as of its end and labelled by what
        the customer bought in ``label``; customers without a positive candidate are dropped
        (a group with no positive teaches LambdaRank nothing). Returns the frame and how many
        truth pairs its customers had (for the candidates' recall)."""
        models = {n: make().fit(hist, self.segments_) for n, make in self.candidates.items()}
        users = np.intersect1d(hist[C.CUSTOMER_ID].unique(), label[C.CUSTOMER_ID].unique())
        if len(users) > self.max_train_customers:
            users = rng.choice(users, self.max_train_customers, replace=False)
        if len(users) == 0:
            return pd.DataFrame(), 0
        cand = self._candidate_frame(models, list(users))
        truth = label[[C.CUSTOMER_ID, C.SKU]].drop_duplicates()
        if self.mode == "new":  # learn to find items the customer has not bought before
            before = hist[[C.CUSTOMER_ID, C.SKU]].drop_duplicates().assign(_seen=True)
            truth = truth.merge(before, how="left", on=[C.CUSTOMER_ID, C.SKU])
            truth = truth[truth["_seen"].isna()].drop(columns="_seen")
        truth = truth.assign(label=1)
        # labelled and thinned before featuring: the features are row by row, and most
        # customers of a sparse target (items new to them) have no positive candidate
        cand = cand.merge(truth, on=[C.CUSTOMER_ID, C.SKU], how="left")
        cand["label"] = cand["label"].fillna(0).astype(int)
        cand = cand[cand.groupby(C.CUSTOMER_ID)["label"].transform("max") > 0]
        f = self._features(cand.reset_index(drop=True), self._context(hist))
        return f, int(truth[C.CUSTOMER_ID].isin(users).sum())

    def _fit(self, interactions: pd.DataFrame) -> None:
        if C.TS not in interactions:
            raise ValueError("the hybrid needs event-level interactions with ts")
        events = interactions.astype({C.CUSTOMER_ID: str, C.SKU: str})
        end = events[C.TS].max()
        rng = np.random.default_rng(self.seed)
        frames, positives, truths = [], 0, 0
        # one training frame per label window, the newest first, each fitting the candidate
        # models on its own history; older windows are added only while those fits and the
        # final refit on all events stay within max_fit_events
        fitted = len(events)
        for w in range(self.label_windows):
            cut = end - pd.Timedelta(days=self.label_days * (w + 1))
            hist = events[events[C.TS] <= cut]
            over = self.max_fit_events is not None and fitted + len(hist) > self.max_fit_events
            if w > 0 and over:
                break
            fitted += len(hist)
            label = events[
                (events[C.TS] > cut) & (events[C.TS] <= cut + pd.Timedelta(days=self.label_days))
            ]
            if hist.empty or label.empty:
                break
            f, n_truth = self._training_frame(hist, label, rng)
            if f.empty:
                continue
            frames.append(f.assign(_window=w))
            positives += int(f["label"].sum())
            truths += n_truth
        if not frames:
            raise ValueError(
                f"{self.name}: no customer bought in the {self.label_days}-day label window after "
                "having a history before it; nothing to learn a ranking from"
            )
        f = pd.concat(frames, ignore_index=True)
        f = f.sort_values(["_window", C.CUSTOMER_ID], kind="stable")
        self.columns_ = self.feature_columns(f.drop(columns="_window"))
        group = f.groupby(["_window", C.CUSTOMER_ID], sort=False).size().to_numpy()
        data = lgb.Dataset(f[self.columns_], f["label"], group=group)
        self.ranker_ = lgb.train(self.params, data, num_boost_round=self.num_boost_round)
        self.train_windows_ = len(frames)
        self.train_candidate_recall_ = float(positives / max(truths, 1))
        self.models_ = {
            n: make().fit(events, self.segments_) for n, make in self.candidates.items()
        }
        self.context_ = self._context(events)

    def _ranked(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(position in ``rows``, item column, ranker score) of every candidate."""
        customers = list(self.customers_[rows])
        f = self._features(self._candidate_frame(self.models_, customers), self.context_)
        pred = self.ranker_.predict(f[self.columns_], num_threads=0)
        # ties (items the ranker cannot tell apart) go to the candidate models' best rank
        best_rank = f[[f"{n}_rank" for n in self.models_]].min(axis=1).to_numpy()
        pred = pred - 1e-6 * best_rank
        r = pd.Index(customers).get_indexer(f[C.CUSTOMER_ID])
        c = self.items_.get_indexer(f[C.SKU])
        ok = (r >= 0) & (c >= 0)
        return r[ok], c[ok], pred[ok]

    def batch_size(self) -> int:
        return 2048  # candidates are sparse: no dense (customers x items) matrix is built

    def _top_known(self, ids, rows, k, mask, exclude_seen) -> pd.DataFrame:
        who, cols, values = self._ranked(rows)
        return self._top_scored(ids, rows, k, mask, exclude_seen, who, cols, values)

    def _score(self, rows: np.ndarray) -> np.ndarray:
        who, cols, values = self._ranked(rows)
        out = np.full((len(rows), len(self.items_)), np.nan)
        out[who, cols] = values
        return out

    def feature_importance(self) -> pd.Series:
        return pd.Series(self.ranker_.feature_importance("gain"), index=self.columns_).sort_values(
            ascending=False
        )
