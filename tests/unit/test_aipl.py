"""AIPL stages on hand-built histories, the flows between them, and the transition matrix."""

from __future__ import annotations

import pandas as pd
import pytest

from src.features import columns as C
from src.features.aipl import AiplWindows, aipl_flows, aipl_stages, transition_matrix


def tx(rows):
    f = pd.DataFrame(rows, columns=[C.CUSTOMER_ID, C.ORDER_ID, C.TS])
    f[C.TS] = pd.to_datetime(f[C.TS])
    f[C.LINE_TYPE] = C.LINE_SALE
    return f


def ev(rows):
    f = pd.DataFrame(rows, columns=[C.CUSTOMER_ID, C.TS, C.EVENT])
    f[C.TS] = pd.to_datetime(f[C.TS])
    return f


W = AiplWindows(awareness_days=60, interest_days=30, purchase_days=90, loyalty_days=180)


def stage_of(stages, customer, month):
    s = stages[(stages[C.CUSTOMER_ID] == customer) & (stages["period"] == pd.Timestamp(month))]
    return s["stage"].iat[0]


def test_the_highest_qualifying_stage_wins_month_by_month():
    t = tx(
        [
            ("ann", "o1", "2024-02-10"),
            ("ann", "o2", "2024-03-05"),
            ("bob", "o3", "2024-01-20"),
            ("ann", "o2", "2024-03-05"),
        ]
    )  # fmt: skip  (a second line of o2: one order)
    e = ev([("cat", "2024-01-03", C.EVENT_EXPOSURE), ("cat", "2024-02-14", C.EVENT_VIEW),
            ("bob", "2024-01-02", C.EVENT_CART), ("dan", "2024-03-30", C.EVENT_WISHLIST),
            ("ann", "2024-01-15", C.EVENT_VIEW)])  # fmt: skip
    s = aipl_stages(t, e, W, end=pd.Timestamp("2024-06-30"))
    # ann: browsed in January, bought in February, bought again in March -> loyal until the
    # 180 days since the first order run out (still loyal at the end of June)
    assert [stage_of(s, "ann", m) for m in ("2024-01-01", "2024-02-01", "2024-03-01")] == [
        "interest", "purchase", "loyalty"]  # fmt: skip
    assert stage_of(s, "ann", "2024-06-01") == "loyalty"
    # bob: one order on 20 January -> purchase while it is within 90 days of a month's end
    assert stage_of(s, "bob", "2024-03-01") == "purchase"  # 31 March: 71 days
    assert stage_of(s, "bob", "2024-04-01") == "inactive"  # 30 April: 101 days
    # cat: an exposure, then a view: awareness in January, interest in February, then inactive
    # (at the end of March the view is 46 days old, the exposure 88: both out of their windows)
    assert [stage_of(s, "cat", m) for m in ("2024-01-01", "2024-02-01", "2024-03-01",
                                            "2024-04-01")] == [
        "awareness", "interest", "inactive", "inactive"]  # fmt: skip
    # dan appears in March only (from his first contact on)
    assert s.loc[s[C.CUSTOMER_ID] == "dan", "period"].min() == pd.Timestamp("2024-03-01")
    assert stage_of(s, "dan", "2024-03-01") == "interest"


def test_flows_count_moves_and_new_customers():
    t = tx([("ann", "o1", "2024-01-10"), ("bob", "o2", "2024-02-10")])
    s = aipl_stages(t, None, W, end=pd.Timestamp("2024-02-29"))
    f = aipl_flows(s)
    jan = f[f["period"] == pd.Timestamp("2024-01-01")]
    assert jan[["from_stage", "to_stage", "customers"]].values.tolist() == [["new", "purchase", 1]]
    feb = f[f["period"] == pd.Timestamp("2024-02-01")].set_index(["from_stage", "to_stage"])
    assert feb.loc[("purchase", "purchase"), "customers"] == 1  # ann stays
    assert feb.loc[("new", "purchase"), "customers"] == 1  # bob arrives
    m = transition_matrix(f)
    assert m.sum(axis=1).tolist() == pytest.approx([1.0] * len(m))


def test_windows_are_checked():
    with pytest.raises(ValueError, match="loyalty_orders at least 2"):
        AiplWindows(loyalty_orders=1)


def test_customer_features_carry_aipl_stages_and_flows_on_generator_data():
    from src.features.adapters import synthetic
    from src.features.sets import CustomerSet

    tables = synthetic.load(seed=5, n_people=400, n_skus=30, days=150).tables
    built = CustomerSet(aipl_period="MS").build(tables)
    stages, flows = built["aipl"], built["aipl_flows"]
    assert set(stages["stage"]) == {"inactive", "awareness", "interest", "purchase", "loyalty"}
    # browsers who never bought are in the table, below purchase
    buyers = set(tables.transactions[C.CUSTOMER_ID].dropna())
    browsers = stages[~stages[C.CUSTOMER_ID].isin(buyers)]
    assert len(browsers) and set(browsers["stage"]) <= {"inactive", "awareness", "interest"}
    # every customer-period is one move in the flows
    per = stages.groupby("period").size()
    assert flows.groupby("period")["customers"].sum().reindex(per.index).tolist() == per.tolist()
    assert not stages.duplicated([C.CUSTOMER_ID, "period"]).any()
