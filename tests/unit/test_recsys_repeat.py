"""Repeat-aware next-basket models on hand-built baskets; sparse helpers against brute force;
evaluation by segment; the benchmark's per-dataset champion choice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from src.features import columns as C
from src.recsys.base import DENSE_CELLS
from src.recsys.evaluation import breakdown, frequency_bucket, holdout
from src.recsys.models import BuyAgain, ItemKNN, Popularity
from src.recsys.repeat import (
    TIFUKNN,
    BasketCooccurrence,
    Transitions,
    baskets,
)
from src.recsys.sparse import blockwise_item_item, top_k_rows

DAY0 = pd.Timestamp("2024-01-01")


def events(rows) -> pd.DataFrame:
    """rows: (customer, day offset, [items]) — one basket each."""
    out = [(c, s, 1.0, DAY0 + pd.Timedelta(days=d)) for c, d, items in rows for s in items]
    return pd.DataFrame(out, columns=[C.CUSTOMER_ID, C.SKU, C.WEIGHT, C.TS])


def scores(model, customer: str) -> pd.Series:
    row = model.customers_.get_indexer([customer])
    return pd.Series(np.asarray(model._score(row))[0], index=model.items_)


def test_baskets_one_per_customer_day_with_age_from_the_newest():
    ev = events([("u", 0, ["a", "b"]), ("u", 3, ["a"]), ("v", 1, ["c"]), ("u", 3, ["c"])])
    customers, items = pd.Index(["u", "v"]), pd.Index(["a", "b", "c"])
    B, cust, age = baskets(ev, customers, items)
    assert B.shape == (3, 3)  # u's day 0, u's day 3 (a and c in one basket), v's day 1
    assert list(cust) == [0, 0, 1] and list(age) == [1, 0, 0]
    assert B.toarray().tolist() == [[1, 1, 0], [1, 0, 1], [0, 0, 1]]


def test_tifu_personal_vector_matches_the_paper_by_hand():
    # four baskets of u, oldest first; group size 2 -> groups {b1,b2} (older) and {b3,b4}
    ev = events([("u", 0, ["a"]), ("u", 7, ["a", "b"]), ("u", 14, ["b"]), ("u", 21, ["a"]),
                 ("v", 0, ["z"])])  # fmt: skip
    m = TIFUKNN(group_size=2, within_decay=0.5, group_decay=0.25, alpha=1.0).fit(ev)
    s = scores(m, "u")
    # group vector = mean of rb^age-in-group x basket; user = mean of rg^group-age x group
    newest = (0.5 * np.array([0, 1]) + 1.0 * np.array([1, 0])) / 2  # b3 (b), b4 (a): items a, b
    older = (0.5 * np.array([1, 0]) + 1.0 * np.array([1, 1])) / 2  # b1 (a), b2 (a, b)
    expected = (newest + 0.25 * older) / 2
    assert s["a"] == pytest.approx(expected[0], rel=1e-6)
    assert s["b"] == pytest.approx(expected[1], rel=1e-6)
    assert s["z"] == 0.0


def test_tifu_neighbours_propose_what_similar_customers_buy():
    rows = [(f"n{i}", d, ["milk", "bread", "jam"]) for i in range(5) for d in (0, 7)]
    rows += [("u", 0, ["milk", "bread"]), ("u", 7, ["milk", "bread"]), ("w", 0, ["soap"])]
    m = TIFUKNN(k_neighbours=3, alpha=0.5).fit(events(rows))
    s = scores(m, "u")
    assert s["jam"] > 0 and s["soap"] == 0  # from the neighbours, not from the stranger
    assert s["milk"] > s["jam"]  # the customer's own repeat items still come first
    recs = m.recommend(["u"], 3, exclude_seen=True)
    assert recs[C.SKU].iloc[0] == "jam"


def test_cooccurrence_is_the_conditional_basket_probability():
    rows = [("x", 0, ["a", "b"]), ("y", 0, ["a", "b"]), ("z", 0, ["a", "c"]), ("u", 0, ["a"])]
    m = BasketCooccurrence(recent_baskets=1).fit(events(rows))
    assert m.M_[m.items_.get_loc("a"), m.items_.get_loc("b")] == pytest.approx(2 / 4)
    assert m.M_[m.items_.get_loc("a"), m.items_.get_loc("c")] == pytest.approx(1 / 4)
    top = m.recommend(["u"], 2, exclude_seen=True)
    assert top[C.SKU].tolist() == ["b", "c"]


def test_transitions_follow_the_order_of_baskets():
    # everyone buys a, then b next time (and c only before a): after a comes b, not c
    rows = [(f"p{i}", d, [s]) for i in range(4) for d, s in ((0, "c"), (7, "a"), (14, "b"))]
    rows += [("u", 0, ["a"])]
    m = Transitions(recent_baskets=1).fit(events(rows))
    assert m.M_[m.items_.get_loc("a"), m.items_.get_loc("b")] == pytest.approx(1.0)
    assert m.M_[m.items_.get_loc("a"), m.items_.get_loc("c")] == 0
    assert m.recommend(["u"], 1, exclude_seen=True)[C.SKU].tolist() == ["b"]


def test_top_k_rows_and_blockwise_product_match_brute_force():
    rng = np.random.default_rng(0)
    A = sp.random(60, 40, density=0.2, random_state=1, format="csr", dtype=np.float64)
    B = sp.random(60, 40, density=0.2, random_state=2, format="csr", dtype=np.float64)
    full = (A.T @ B).toarray()
    got = blockwise_item_item(A, B, k=5, block=7).toarray()
    for i in range(40):
        nz = full[i][full[i] > 0]
        keep = np.sort(nz)[::-1][:5]
        assert np.allclose(np.sort(got[i][got[i] > 0])[::-1], keep)
    M = sp.csr_matrix(rng.random((5, 9)))
    assert (top_k_rows(M, 3).getnnz(axis=1) == 3).all()


def test_item_knn_is_cosine_top_k():
    rows = [(f"c{i}", 0, list(items)) for i, items in enumerate(
        ["ab", "ab", "abc", "cd", "cd", "de", "ae", "bd"])]  # fmt: skip
    m = ItemKNN(k_neighbours=2).fit(events(rows))
    X = (m.X_ > 0).toarray().astype(float)
    cos = (X.T @ X) / np.sqrt(np.outer(X.sum(0), X.sum(0)))
    np.fill_diagonal(cos, 0)
    for i in range(len(m.items_)):
        got = m.W_[i].toarray().ravel()
        assert np.allclose(np.sort(got[got > 0])[::-1], np.sort(cos[i])[::-1][:2], atol=1e-6)


def test_batch_shrinks_with_the_catalogue():
    small = Popularity().fit(events([("u", 0, ["a"])]))
    assert small.batch_size() == 1024
    many = events([("u", 0, [f"s{i}" for i in range(100_000)])])
    big = Popularity().fit(many)
    assert big.batch_size() * len(big.items_) <= max(DENSE_CELLS, 16 * len(big.items_))
    assert big.batch_size() < 100


def test_breakdown_by_frequency_lifecycle_and_repeat_vs_explore():
    train = [("u", 0, ["a"]), ("u", 10, ["a", "b"]), ("v", 5, ["c"])]
    test = [("u", 40, ["a", "x"]), ("v", 41, ["c", "y", "z"])]
    h = holdout(events(train + test), DAY0 + pd.Timedelta(days=30))
    assert frequency_bucket(h.train).to_dict() == {"u": "2-3", "v": "1"}
    recs = pd.DataFrame({C.CUSTOMER_ID: ["u", "u", "v", "v"], C.SKU: ["a", "y", "y", "c"],
                         "rank": [1, 2, 1, 2]})  # fmt: skip
    b = breakdown(recs, h, 20, {"u": "active", "v": "new"}).set_index(["dimension", "member"])
    assert b.loc[("frequency", "2-3"), "recall"] == pytest.approx(0.5)  # u: a of {a, x}
    assert b.loc[("frequency", "1"), "recall"] == pytest.approx(2 / 3)  # v: y, c of {c, y, z}
    assert b.loc[("lifecycle", "new"), "customers"] == 1
    assert b.loc[("purchase", "repeat"), "recall"] == pytest.approx(1.0)  # a and c found
    assert b.loc[("purchase", "explore"), "recall"] == pytest.approx((0 + 1 / 2) / 2)  # y of v
    assert b.loc[("list", "repeat_share"), "recall"] == pytest.approx(2 / 4)


def test_benchmark_champion_is_chosen_on_validation_not_on_test():
    from benchmarks.bench_recsys import choose

    table = pd.DataFrame({
        "model": ["pop", "again", "ours"], "ours": [False, False, True],
        "val_recall_all": [0.1, 0.30, 0.25], "recall_all": [0.1, 0.20, 0.40],
    })  # fmt: skip
    c = choose(table, "all")
    assert c["champion_all"] == "again"  # best on validation, though not on test
    assert c["best_peer_all"] == "pop" and c["ratio_all"] == pytest.approx(2.0)
    assert c["loses_to_all"] == ["ours"]


def test_benchmark_champion_must_beat_the_best_peer_significantly():
    from benchmarks.bench_recsys import choose

    table = pd.DataFrame({
        "model": ["pop", "again", "ours"], "ours": [False, False, True],
        "val_recall_all": [0.1, 0.30, 0.31], "recall_all": [0.1, 0.30, 0.29],
    })  # fmt: skip
    rng = np.random.default_rng(0)
    peer = pd.Series(rng.random(400))
    noisy = {"again": {"all": peer}, "ours": {"all": peer + rng.normal(0, 0.2, 400)}}
    c = choose(table, "all", noisy, level=0.05, n_boot=500)
    assert c["champion_all"] == "again" and "stays champion" in c["champion_reason_all"]
    clear = {"again": {"all": peer}, "ours": {"all": peer + 0.05}}
    c = choose(table, "all", clear, level=0.05, n_boot=500)
    assert c["champion_all"] == "ours" and "significantly better" in c["champion_reason_all"]


def test_benchmark_builds_the_models_train_recsys_trains():
    from benchmarks.bench_recsys import OURS, PEERS, model_entries, models

    entries = model_entries()
    made = models(entries)
    assert set(made) == set(PEERS) | set(OURS)
    hybrid = made["hybrid"]()
    assert set(hybrid.candidates) == set(entries["hybrid"]["candidates"])


@pytest.mark.parametrize("exclude_seen", [False, True])
def test_sparse_top_k_equals_the_dense_path(exclude_seen):
    # the hybrid ranks sparse candidates without a dense matrix; same answer as the dense path
    rng = np.random.default_rng(4)
    rows = [(f"c{c}", int(d), list(rng.choice([f"s{i}" for i in range(40)], 3, replace=False)))
            for c in range(30) for d in rng.choice(200, 4, replace=False)]  # fmt: skip
    m = BuyAgain().fit(events(rows))
    ids = pd.Index([f"c{c}" for c in range(30)])
    r = m.customers_.get_indexer(ids)
    mask = np.ones(len(m.items_), bool)
    mask[::7] = False
    dense = m._top_known(ids, r, 10, mask, exclude_seen)
    S = m._score_sparse(r).tocoo()
    sparse = m._top_scored(ids, r, 10, mask, exclude_seen, S.row, S.col, S.data.astype(float))
    key = [C.CUSTOMER_ID, "rank"]
    pd.testing.assert_frame_equal(
        dense.sort_values(key).reset_index(drop=True)[[C.CUSTOMER_ID, "rank", "reason"]],
        sparse.sort_values(key).reset_index(drop=True)[[C.CUSTOMER_ID, "rank", "reason"]],
    )
    assert dense.groupby(C.CUSTOMER_ID)[C.SKU].apply(frozenset).equals(
        sparse.groupby(C.CUSTOMER_ID)[C.SKU].apply(frozenset)
    ) or _same_up_to_ties(dense, sparse)


def _same_up_to_ties(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Equal scores at each rank (items of equal score may swap)."""
    return np.allclose(a.sort_values([C.CUSTOMER_ID, "rank"])["score"].to_numpy(),
                       b.sort_values([C.CUSTOMER_ID, "rank"])["score"].to_numpy())  # fmt: skip


def test_benchmark_run_writes_the_validation_chosen_champion(tmp_path, monkeypatch):
    import json

    import benchmarks.bench_recsys as bench
    from src.features.adapters.synthetic import generate, person_purchases

    data = generate(seed=2, taste={}, events=False, campaigns=None, stock_history_weeks=0,
                    n_people=300, n_skus=150, days=150, orders_per_day=15.0)  # fmt: skip
    ev = person_purchases(data)
    end = ev[C.TS].max().normalize() + pd.Timedelta(days=1)
    cutoff = end - pd.Timedelta(days=21)
    monkeypatch.setattr(
        bench, "online_retail_events", lambda: (ev, str(cutoff.date()), str(end.date()))
    )
    monkeypatch.setattr(bench, "OUT", tmp_path)
    doc = tmp_path / "BENCHMARKS.md"
    monkeypatch.setattr(bench, "write_section", lambda key, text, heading: doc.write_text(text))
    summary = bench.main(["--dataset", "online_retail", "--set", "hybrid.num_boost_round=30",
                          "--set", "hybrid_new.num_boost_round=30"])  # fmt: skip
    out = json.loads((tmp_path / "recsys_online_retail.json").read_text())
    table = pd.DataFrame(out["table"])
    for v in ("all", "new"):
        best = table.loc[table[f"val_recall_{v}"].idxmax(), "model"]
        peers = table[~table["ours"]]
        best_peer = peers.loc[peers[f"val_recall_{v}"].idxmax(), "model"]
        # the best on validation, unless it did not significantly beat the best peer there
        kept = "the peer stays champion" in summary[f"champion_reason_{v}"]
        assert summary[f"champion_{v}"] == (best_peer if kept else best)
    assert (tmp_path / "recsys_online_retail_all.parquet").exists()
    text = doc.read_text()
    assert f"validation chose **{summary['champion_all']}**" in text
    assert "frequency: 1" in text and "purchase: explore" in text


@pytest.mark.parametrize("k", [2, 10])  # 50 customers: > 12 k the sparse product, else a dense one
def test_tifu_dense_scores_and_candidates_match_the_sparse_product(k, monkeypatch):
    rng = np.random.default_rng(3)
    rows = [(f"c{c}", d, list(rng.choice([f"i{i}" for i in range(40)], 3, replace=False)))
            for c in range(50) for d in rng.choice(60, 4, replace=False)]  # fmt: skip
    m = TIFUKNN(k_neighbours=k, alpha=0.6).fit(events(rows))
    who = np.arange(len(m.customers_))
    np.testing.assert_allclose(m._score(who), m._score_sparse(who).toarray(), rtol=1e-5)
    ids = list(m.customers_)
    dense = m.candidates(ids, 8, exclude_seen=True)
    monkeypatch.setattr(TIFUKNN, "_sparse_candidates", lambda self: True)
    sparse = m.candidates(ids, 8, exclude_seen=True)
    # per customer the same top scores (which of several tied items fills the last place may
    # differ), and every candidate scored as the sparse product scores it
    top = {name: c.sort_values([C.CUSTOMER_ID, "score"], ascending=[True, False])
           for name, c in (("dense", dense), ("sparse", sparse))}  # fmt: skip
    assert top["dense"][C.CUSTOMER_ID].tolist() == top["sparse"][C.CUSTOMER_ID].tolist()
    np.testing.assert_allclose(top["dense"]["score"], top["sparse"]["score"], rtol=1e-5)
    full = m._score_sparse(who).toarray()
    at = (m.customers_.get_indexer(dense[C.CUSTOMER_ID]), m.items_.get_indexer(dense[C.SKU]))
    np.testing.assert_allclose(dense["score"], full[at], rtol=1e-5)
    key = [C.CUSTOMER_ID, C.SKU]
    bought = events(rows)[key].drop_duplicates().assign(seen=True)
    assert dense.merge(bought, on=key, how="left")["seen"].isna().all()
