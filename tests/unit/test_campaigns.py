"""Campaigns: ingested by config with rejects, measured against the generator's known effect,
uplift above random, power tables that invert, observational campaigns labelled as such."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from src.features import columns as C
from src.features.adapters import generic
from src.features.adapters import synthetic as S
from src.features.ingest import IngestOptions
from src.marketing import campaigns as K
from src.marketing import uplift as UP
from tests.helpers import CONF, GENERIC_COLUMNS

CFG = OmegaConf.to_container(OmegaConf.load(f"{CONF}/measure/default.yaml"))


def campaigns_block(camp_path, members_path):
    return [{
        "path": str(camp_path), "name": "crm",
        "columns": {"campaign_id": "Id", "type": "Kind", "channel": "Medium", "start": "Sent",
                    "end": "Until", "cost": "Cost"},
        "members": {"path": str(members_path), "name": "generic",
                    "columns": {"campaign_id": "Id", "customer_id": "Customer", "group": "Arm"},
                    "labels": {"T": "treated", "C": "holdout"}},
    }]  # fmt: skip


def test_campaign_files_are_ingested_by_config_with_rejects(write_csv, good_rows):
    camp = write_csv({"Id": ["K1", "K2", "K3", "K1", "K4"],
                      "Kind": ["win_back", "promo", "promo", "dup", "promo"],
                      "Medium": ["email", "sms", "email", "email", "email"],
                      "Sent": ["2024-01-02", "2024-01-03", "2024-01-05", "2024-01-02", "soon"],
                      "Until": ["2024-01-04", "2024-01-01", "2024-01-06", "2024-01-04", ""],
                      "Cost": ["10", "5", "-3", "1", "1"]}, "campaigns.csv")  # fmt: skip
    members = write_csv({"Id": ["K1", "K1", "K1", "K9", "K1", "K1"],
                         "Customer": ["c1", "c2", "c7", "c1", "c2", ""],
                         "Arm": ["T", "C", "T", "T", "C", "T"]}, "members.csv")  # fmt: skip
    result = generic.load(write_csv(good_rows), GENERIC_COLUMNS,
                          campaigns=campaigns_block(camp, members),
                          options=IngestOptions(max_reject_fraction=0.9))  # fmt: skip
    t = result.tables
    assert list(t.campaigns.columns) == C.CAMPAIGNS and list(t.campaigns[C.CAMPAIGN_ID]) == ["K1"]
    rej = result.rejects
    by_rule = {(f.split("/")[-1], r): row for f, r, row in
               zip(rej[C.REJECT_FILE], rej[C.REJECT_RULE], rej[C.REJECT_ROW], strict=True)}  # fmt: skip
    assert by_rule == {
        ("campaigns.csv", "end_before_start"): 1, ("campaigns.csv", "negative_cost"): 2,
        ("campaigns.csv", "duplicate_campaign_id"): 3, ("campaigns.csv", "unparseable_timestamp"): 4,
        ("members.csv", "unknown_campaign"): 3, ("members.csv", "duplicate_member"): 4,
        ("members.csv", "missing_customer_id"): 5,
    }  # fmt: skip
    m = t.campaign_members
    assert list(m.columns) == C.CAMPAIGN_MEMBERS
    # One-ID applied: members who bought carry their buyer's id; c7 never bought and still counts
    buyers = t.transactions.set_index(C.ORDER_ID)[C.CUSTOMER_ID]
    assert set(m[C.CUSTOMER_ID]) >= {buyers["o1"].iat[0], buyers["o2"]}
    assert m[C.CUSTOMER_ID].notna().all() and len(m) == 3
    assert dict(m[C.GROUP].value_counts()) == {"treated": 2, "holdout": 1}
    assert result.report["campaigns"]["members_by_group"] == {"treated": 2, "holdout": 1}


def test_generator_campaigns_leave_the_baseline_unchanged():
    plain = S.generate(seed=3, n_people=300, days=150, campaigns=[])
    with_c = S.generate(seed=3, n_people=300, days=150)
    for ch, frame in plain.raw.items():
        mine = with_c.raw[ch]
        extra = mine[C.ORDER_ID].str.contains("C", regex=False) & ~mine[C.ORDER_ID].isin(
            frame[C.ORDER_ID]
        )
        pd.testing.assert_frame_equal(
            mine[~extra].sort_values([C.ORDER_ID, C.LINE]).reset_index(drop=True),
            frame.sort_values([C.ORDER_ID, C.LINE]).reset_index(drop=True),
        )
    truth = with_c.campaign_truth.set_index(C.CAMPAIGN_ID)
    assert (
        truth.loc["C01_email_winback", "randomised"]
        and not truth.loc["C03_app_offer", "randomised"]
    )
    u = with_c.uplift_truth
    assert u.groupby("segment")["uplift"].nunique().le(3).all()


def _prepared(seed: int, **params):
    result = S.load(seed=seed, **params)
    t = result.tables
    lines = K.line_values(t.transactions, t.products, float(CFG["margin_rate"]))
    truth = pd.DataFrame(result.report["campaigns"]["truth"]).set_index(C.CAMPAIGN_ID)
    return t, lines, truth, sorted(t.transactions[C.CHANNEL].unique())


def test_intervals_cover_the_planted_effect_in_at_least_90_percent_of_seeded_runs():
    covered = []
    for seed in range(12):
        t, lines, truth, channels = _prepared(seed, n_people=800, days=240)
        customers = pd.Index(lines[C.CUSTOMER_ID].unique())
        for cid in truth.index[truth["randomised"]]:
            camp = t.campaigns.set_index(C.CAMPAIGN_ID).loc[cid].to_dict() | {C.CAMPAIGN_ID: cid}
            mem = t.campaign_members[t.campaign_members[C.CAMPAIGN_ID] == cid]
            row, _ = K.measure(camp, mem, lines, t.events, customers, channels, CFG)
            assert row["method"] == K.RANDOMISED
            for y, key in (("revenue", "revenue_per_customer"), ("orders", "orders_per_customer")):
                covered.append(row[f"{y}_lo"] <= truth.loc[cid, key] <= row[f"{y}_hi"])
    assert len(covered) == 48
    assert np.mean(covered) >= 0.9


def test_campaign_without_holdout_is_measured_observationally_and_says_so():
    t, lines, truth, channels = _prepared(1, n_people=1500, days=240)
    customers = pd.Index(lines[C.CUSTOMER_ID].unique())
    camp = t.campaigns.set_index(C.CAMPAIGN_ID).loc["C03_app_offer"].to_dict()
    camp[C.CAMPAIGN_ID] = "C03_app_offer"
    mem = t.campaign_members[t.campaign_members[C.CAMPAIGN_ID] == "C03_app_offer"]
    row, _ = K.measure(camp, mem, lines, t.events, customers, channels, CFG)
    assert row["method"] == K.OBSERVATIONAL and "observational" in row["method"]
    assert row["n_control"] > 0.5 * row["n_treated"]  # most treated found a match
    # the matched DiD finds the extra orders the offer caused (truth 0.15 per treated customer)
    assert row["orders_lo"] < truth.loc["C03_app_offer", "orders_per_customer"] < row["orders_hi"]


def test_uplift_model_ranks_better_than_random_and_the_response_peer():
    """Scored against each member's *true* uplift (the generator's), so the check is not at the
    mercy of outcome noise in a small held-out split."""
    result = S.load(seed=0, n_people=4000, orders_per_day=80.0, days=240)
    t = result.tables
    lines = K.line_values(t.transactions, t.products, float(CFG["margin_rate"]))
    channels = sorted(t.transactions[C.CHANNEL].unique())
    cid = "C01_email_winback"
    camp = t.campaigns.set_index(C.CAMPAIGN_ID).loc[cid].to_dict() | {C.CAMPAIGN_ID: cid}
    frame = K.campaign_frame(camp, t.campaign_members[t.campaign_members[C.CAMPAIGN_ID] == cid],
                             lines, int(CFG["attribution_days"]))  # fmt: skip
    x = UP.features(lines, t.events, frame.index, camp[C.START], channels)
    assert (x["recency_days"] >= 0).all()  # features stop the day before the send
    study = UP.uplift_study(x, frame[K.TREATMENT].to_numpy(), frame[K.CONVERTED].to_numpy(),
                            ["t_learner", "s_learner"], seed=0, params=CFG["uplift"]["lgbm"])  # fmt: skip
    assert study["chosen"] in ("t_learner", "s_learner") and study["n_test"] > 0
    # true uplift of each member, by One-ID
    truth = S.generate(seed=0, n_people=4000, orders_per_day=80.0, days=240).uplift_truth
    truth = truth[truth[C.CAMPAIGN_ID] == cid]
    ids = t.identity_map[t.identity_map[C.SOURCE] == "web"].set_index(C.SOURCE_ID)[C.CUSTOMER_ID]
    tau = truth.assign(one=truth[C.CUSTOMER_ID].map(ids)).groupby("one")["uplift"].mean()
    w, y, xv = frame[K.TREATMENT].to_numpy(), frame[K.CONVERTED].to_numpy(), x.to_numpy(float)
    half = np.random.default_rng(0).random(len(w)) < 0.5
    scores = {name: UP.fit_predict(name, xv[half], w[half], y[half], xv[~half], 0,
                                   CFG["uplift"]["lgbm"]) for name in (study["chosen"], UP.RESPONSE)}  # fmt: skip
    known = tau.reindex(frame.index[~half])
    assert known.notna().mean() > 0.95  # members map onto One-IDs
    q = UP.true_qini(known.fillna(0).to_numpy(), w[~half], scores)
    assert q[study["chosen"]] > 0  # above random targeting
    assert q[study["chosen"]] > q[UP.RESPONSE]  # and above targeting the likeliest buyers


def test_estimate_is_the_welch_difference_and_power_tables_invert():
    rng = np.random.default_rng(0)
    n1, n0 = 4000, 1000
    frame = pd.DataFrame({
        K.TREATMENT: [1] * n1 + [0] * n0,
        K.REVENUE: np.r_[rng.exponential(12, n1), rng.exponential(10, n0)],
        K.CONVERTED: np.r_[rng.random(n1) < 0.3, rng.random(n0) < 0.2].astype(float),
    })  # fmt: skip
    frame[K.MARGIN] = frame[K.REVENUE] * 0.4
    frame[K.ORDERS] = frame[K.CONVERTED]
    e = K.estimate(frame)
    diff = frame.loc[frame.w == 1, K.REVENUE].mean() - frame.loc[frame.w == 0, K.REVENUE].mean()
    assert e["revenue_per_customer"] == pytest.approx(diff)
    assert e["revenue_lo"] < diff < e["revenue_hi"] and e["conversion_p"] < 1e-6
    money = K.roi(e, cost=100.0)
    assert money["roi"] == pytest.approx(e["margin_per_customer"] * n1 / 100.0)
    assert money["roi_lo"] < money["roi"] < money["roi_hi"]
    power = K.power_table(frame, [0.1], holdout_share=0.2)
    need = power.iloc[1]
    p0 = frame.loc[frame.w == 0, K.CONVERTED].mean()
    achieved = NormalIndPower().power(
        proportion_effectsize(p0 * 1.1, p0), nobs1=need["treated_for_conversion"], alpha=0.05,
        ratio=0.25,
    )  # fmt: skip
    assert achieved == pytest.approx(0.8, abs=0.01)
    assert need["holdout_for_conversion"] == pytest.approx(
        need["treated_for_conversion"] / 4, abs=1
    )
    mde = power.iloc[0]["conversion_lift_abs"]
    assert 0 < mde < 0.1
