"""One-ID: normalisation, transitive merges, the report, and precision/recall against truth."""

from __future__ import annotations

import pandas as pd
import pytest

from src.features import columns as C
from src.features.adapters import synthetic
from src.features.identity import (
    UnionFind,
    hash_values,
    merge_precision_recall,
    normalise_email,
    normalise_phone,
    resolve,
)
from src.features.ingest import ingest


def test_email_normalisation():
    raw = pd.Series(
        [
            "  Anna.Smith+shop@GMail.com ",
            "annasmith@googlemail.com",
            "bob@x.org",
            "no-at-sign",
            None,
        ]
    )
    out = normalise_email(raw)
    assert out.iat[0] == out.iat[1] == "annasmith@gmail.com"
    assert out.iat[2] == "bob@x.org"
    assert pd.isna(out.iat[3]) and pd.isna(out.iat[4])


def test_phone_normalisation():
    raw = pd.Series(["07700 900123", "+44 7700 900123", "0044-7700-900123", "12345", None])
    out = normalise_phone(raw, "44")
    assert out.iat[0] == out.iat[1] == out.iat[2] == "447700900123"
    assert pd.isna(out.iat[3]) and pd.isna(out.iat[4])


def test_hashes_hide_the_value_and_depend_on_salt():
    h = hash_values(pd.Series(["a@b.com"]), salt="s1").iat[0]
    assert "a@b.com" not in h and len(h) == 64
    assert h != hash_values(pd.Series(["a@b.com"]), salt="s2").iat[0]


def test_union_find_is_transitive():
    uf = UnionFind(5)
    assert uf.union(0, 1) and uf.union(1, 2) and not uf.union(0, 2)
    roots = uf.roots()
    assert roots[0] == roots[1] == roots[2] and roots[3] != roots[0] and roots[4] != roots[3]


def test_resolve_merges_transitively_and_explains_why():
    records = pd.DataFrame(
        {
            C.SOURCE: ["web", "app", "store", "store", "marketplace"],
            C.SOURCE_ID: ["W1", "A1", "S1", "S2", "MP1"],
            C.MEMBER_ID: [None, "M9", "M9", None, None],
            C.EMAIL_HASH: ["e1", "e1", None, None, None],
            C.PHONE_HASH: [None, None, "p1", "p2", "p1"],
        }
    )
    ident, report = resolve(records)
    cid = ident.set_index(C.SOURCE_ID)[C.CUSTOMER_ID]
    # W1 ~ A1 (email), A1 ~ S1 (member), S1 ~ MP1 (phone) => one customer, named by its member id
    assert cid["W1"] == cid["A1"] == cid["S1"] == cid["MP1"] == "M9"
    assert cid["S2"] == "store:S2"
    rule = ident.set_index(C.SOURCE_ID)[C.MATCH_RULE]
    assert rule["W1"] == "email" and rule["S1"] == "member_id+phone" and rule["S2"] == "single"
    assert report.n_source_ids == 5 and report.n_customers == 2
    assert report.merges_by_rule == {"member_id": 1, "email": 1, "phone": 1}
    assert report.source_ids_per_customer == {1: 1, 4: 1}


def test_precision_recall_hand_computed():
    # truth: {a,b,c} {d}; predicted: {a,b} {c,d}
    pred = pd.Series(["x", "x", "y", "y"])
    truth = pd.Series([1, 1, 1, 2])
    p, r = merge_precision_recall(pred, truth)
    assert p == pytest.approx(1 / 2)  # predicted pairs ab, cd; only ab is true
    assert r == pytest.approx(1 / 3)  # true pairs ab, ac, bc; only ab found


def test_one_id_on_generator_truth():
    result = synthetic.load(seed=11, n_people=1500, days=200)
    truth = result.report["identity"]["truth"]
    assert truth["merge_precision"] >= 0.9
    assert truth["merge_recall"] >= 0.6
    assert result.report["identity"]["customers"] < result.report["identity"]["source_ids"]


def test_without_identity_attributes_nothing_merges():
    data = synthetic.generate(seed=3, n_people=400, days=60)
    data.raw = {
        ch: f.drop(columns=[C.EMAIL, C.PHONE, C.MEMBER_ID], errors="ignore")
        for ch, f in data.raw.items()
    }
    specs = synthetic.source_specs(data)
    frames = {str(s.path): data.raw[s.name] for s in specs}
    result = ingest(specs, raw_frames=frames, locations=data.locations)
    precision, recall = synthetic.score_identity(result.tables.identity_map, data.truth)
    assert recall == 0.0 and precision == 1.0
