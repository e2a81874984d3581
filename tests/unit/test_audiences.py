"""Audience rules, suppression (recent contact, opt-out), one audience per customer, holdout."""

from __future__ import annotations

import pandas as pd
import pytest

from src.features import columns as C
from src.marketing import audiences as AU

AS_OF = pd.Timestamp("2024-06-30")


def prof(n=1000):
    i = pd.RangeIndex(n)
    return pd.DataFrame({
        C.CUSTOMER_ID: [f"c{k}" for k in i],
        C.RECENCY_DAYS: ((i * 7) % 400).astype(float),
        C.FREQUENCY: (i % 7) + 1,
        C.LIFECYCLE: ["active" if k % 400 < 90 else "dormant" for k in i],
        "aipl_stage": "purchase", "p_alive": 0.8,
        "value_365d": i.astype(float), "clv_tier": (i // 250) + 1,
        "top_category": "toys", "days_since_first": (i % 400).astype(float) + 10,
    })  # fmt: skip


RULES = [
    {"name": "vip", "where": {"clv_top_share": 0.1, "recency_days_max": 90}},
    {"name": "win_back", "where": {"recency_days_min": 180, "clv_tier_min": 2}},
]


def test_rules_select_and_each_customer_is_in_one_audience():
    out, report = AU.build(prof(), RULES, None, None, AS_OF, holdout_share=0.2, seed=1)
    vip = out[out[AU.AUDIENCE] == "vip"]
    assert len(vip) > 10
    p = prof().set_index(C.CUSTOMER_ID)
    assert (p.loc[vip[C.CUSTOMER_ID], "value_365d"] >= 900).all()
    assert (p.loc[vip[C.CUSTOMER_ID], C.RECENCY_DAYS] <= 90).all()
    wb = out[out[AU.AUDIENCE] == "win_back"]
    assert (p.loc[wb[C.CUSTOMER_ID], "clv_tier"] >= 2).all()
    assert not out[C.CUSTOMER_ID].duplicated().any()
    assert set(report.columns) >= {"selected", "treated", "holdout", "suppressed_opted_out"}
    assert "last purchase" in out[AU.REASON].iat[0]


def test_holdout_is_random_seeded_and_recorded():
    a, _ = AU.build(prof(4000), RULES[1:], None, None, AS_OF, holdout_share=0.1, seed=7)
    b, _ = AU.build(prof(4000), RULES[1:], None, None, AS_OF, holdout_share=0.1, seed=7)
    pd.testing.assert_frame_equal(a, b)
    share = (a[AU.GROUP] == AU.HOLDOUT).mean()
    assert share == pytest.approx(0.1, abs=0.02)
    # not tied to any customer attribute: holdout and treated have the same mean recency
    p = prof(4000).set_index(C.CUSTOMER_ID)[C.RECENCY_DAYS]
    g = a.groupby(AU.GROUP)[C.CUSTOMER_ID].apply(lambda ids: p.loc[ids].mean())
    assert g[AU.HOLDOUT] == pytest.approx(g[AU.TREATED], rel=0.1)


def test_recent_contacts_and_opt_outs_are_suppressed():
    first, _ = AU.build(prof(), RULES, None, None, AS_OF - pd.Timedelta(days=5), seed=1)
    treated = first[first[AU.GROUP] == AU.TREATED]
    again, report = AU.build(prof(), RULES, None, treated, AS_OF, suppression_days=14,
                             opted_out={"c999"})  # fmt: skip
    assert not set(again[C.CUSTOMER_ID]) & set(treated[C.CUSTOMER_ID])
    assert "c999" not in set(again[C.CUSTOMER_ID])
    assert report["suppressed_recent_contact"].sum() == len(treated)
    later, _ = AU.build(prof(), RULES, None, treated, AS_OF + pd.Timedelta(days=30),
                        suppression_days=14)  # fmt: skip
    assert set(treated[C.CUSTOMER_ID]) <= set(later[C.CUSTOMER_ID])  # the window has passed


def test_recommended_items_come_along_and_bad_conditions_are_named():
    first, _ = AU.build(prof(), RULES[:1], None, None, AS_OF)
    who = first[C.CUSTOMER_ID].iat[0]
    recs = pd.DataFrame({C.CUSTOMER_ID: [who] * 3, "rank": [2, 1, 9], C.SKU: ["B", "A", "Z"]})
    out, _ = AU.build(prof(), RULES[:1], recs, None, AS_OF, top_items=5)
    assert out.set_index(C.CUSTOMER_ID).loc[who, AU.ITEMS] == "A B"
    with pytest.raises(ValueError, match="conditions \\['clv_tier_max'\\] unknown"):
        AU.build(prof(), [{"name": "x", "where": {"clv_tier_max": 2}}], None, None, AS_OF)


def test_back_in_stock_finds_who_wanted_a_restocked_sku():
    snap = lambda day, rows: pd.DataFrame(  # noqa: E731
        [{C.LOCATION_ID: loc, C.SKU: sku, C.AS_OF: pd.Timestamp(day), C.ON_HAND: q, C.ON_ORDER: 0.0}
         for loc, sku, q in rows])  # fmt: skip
    inventory = pd.concat([
        snap("2024-06-16", [("s1", "A", 5), ("s2", "A", 0), ("s1", "B", 4), ("s1", "C", 0)]),
        snap("2024-06-23", [("s1", "A", 0), ("s2", "A", 0), ("s1", "B", 3), ("s1", "C", 0)]),
        snap("2024-06-30", [("s1", "A", 2), ("s2", "A", 0), ("s1", "B", 2), ("s1", "C", 0)]),
    ])  # fmt: skip
    events = pd.DataFrame({
        C.CUSTOMER_ID: ["v1", "v2", "v3", "v4"],
        C.TS: pd.to_datetime(["2024-06-25", "2024-06-26", "2024-06-10", "2024-06-25"]),
        C.EVENT: ["view", "wishlist", "view", "view"],
        C.SKU: ["A", "A", "A", "B"],
    })  # fmt: skip
    tx = pd.DataFrame({
        C.CUSTOMER_ID: ["b1", "b2"], C.SKU: ["A", "A"], C.LINE_TYPE: ["sale", "sale"],
        C.TS: pd.to_datetime(["2024-06-20", "2024-04-01"]),
    })  # fmt: skip
    wanted, info = AU.back_in_stock(inventory, events, tx, AS_OF, lookback_days=28,
                                    interest_days=30)  # fmt: skip
    # A: out everywhere on 06-23, back on 06-30; B never out; C still out
    assert list(info[C.SKU]) == ["A"] and info["out_since"].iat[0] == pd.Timestamp("2024-06-23")
    # v1, v2 looked while it was out; v3 looked before; b1 bought it in the 30 days before it
    # ran out, b2 long before; v4 wanted B, which never ran out
    assert dict(wanted) == {"b1": "A", "v1": "A", "v2": "A"}
    p = pd.concat([prof(3), pd.DataFrame({C.CUSTOMER_ID: ["v1", "v2", "b1"]})], ignore_index=True)
    p[AU.RESTOCKED] = p[C.CUSTOMER_ID].map(wanted)
    rules = [{"name": "back_in_stock", "description": "back", "where": {"back_in_stock": True}},
             *RULES]  # fmt: skip
    out, _ = AU.build(p, rules, None, None, AS_OF, holdout_share=0.0)
    bis = out[out[AU.AUDIENCE] == "back_in_stock"]
    assert sorted(bis[C.CUSTOMER_ID]) == ["b1", "v1", "v2"]
    assert (bis[AU.ITEMS] == "A").all() and bis[AU.REASON].str.contains("back in stock: A").all()
    # a single snapshot is no history: nobody qualifies
    one, _ = AU.back_in_stock(inventory[inventory[C.AS_OF] == AS_OF], events, tx, AS_OF)
    assert one.empty
