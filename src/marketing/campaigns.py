"""Did the campaign pay? Incremental effects with intervals, ROI, power, and whom to target next.

For every campaign in the canonical ``campaigns`` / ``campaign_members`` tables:

* **outcomes** per member over the campaign window plus ``attribution_days``: net revenue
  (returns netted), gross margin (``unit_cost`` where the catalogue has it, else
  ``margin_rate`` x revenue — said in the result), orders, conversion; the same window before the
  send for the difference-in-differences;
* **randomised** (a holdout was drawn): difference in means treated − holdout with Welch
  intervals and p-values (statsmodels ``CompareMeans``), conversions by a two-proportion
  interval and test (``confint_proportions_2indep`` / ``test_proportions_2indep``); totals are
  per-customer effects x treated customers; ROI = incremental margin / cost, with the interval
  carried through;
* **observational** (no holdout): each treated member is matched to the nearest non-member on a
  propensity score of the pre-send features and the key covariates (causalml
  ``NearestNeighborMatch``, within a caliper; ``matched_share`` says how many found one), and the effect
  is the difference in differences (post − pre) of treated vs matched — labelled observational,
  because unmeasured differences between the groups are not removed by matching;
* a **power / sample-size** table for the next test (statsmodels ``NormalIndPower`` /
  ``TTestIndPower``): the smallest detectable lift at this campaign's sizes and the customers
  needed for given lifts at the configured holdout share;
* **uplift models** (causalml meta-learners over LightGBM, and an uplift random forest) that
  rank whom to target next, chosen by Qini on cross-validation folds of the training members and
  scored on a held-out split against the response-model peer (targeting by predicted purchase
  probability) — :func:`uplift_study`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_effectsize,
    test_proportions_2indep,
)
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from src.features import columns as C
from src.marketing.uplift import features

log = logging.getLogger(__name__)

REVENUE, MARGIN, ORDERS, CONVERTED = "revenue", "margin", "orders", "converted"
OUTCOMES = (REVENUE, MARGIN, ORDERS, CONVERTED)
PRE = "pre_"
TREATMENT = "w"
RANDOMISED = "randomised holdout"
OBSERVATIONAL = "observational: matched (propensity + covariates) difference-in-differences"


# --- outcomes ---------------------------------------------------------------------------------


def line_values(tx: pd.DataFrame, products: pd.DataFrame, margin_rate: float) -> pd.DataFrame:
    """Sale and return lines of known customers with ``revenue`` and ``margin`` per line."""
    keep = tx[C.CUSTOMER_ID].notna() & tx[C.LINE_TYPE].isin([C.LINE_SALE, C.LINE_RETURN])
    t = tx.loc[keep, [C.ORDER_ID, C.TS, C.CUSTOMER_ID, C.SKU, C.QTY, C.UNIT_PRICE, C.LINE_TYPE,
                      C.CHANNEL]].copy()  # fmt: skip
    t[C.CUSTOMER_ID] = t[C.CUSTOMER_ID].astype(str)
    t[REVENUE] = t[C.QTY].astype(float) * t[C.UNIT_PRICE].astype(float)
    cost = t[C.SKU].map(products.set_index(C.SKU)[C.UNIT_COST]).astype(float)
    t[MARGIN] = np.where(
        cost.notna(), t[REVENUE] - t[C.QTY].astype(float) * cost, t[REVENUE] * margin_rate
    )
    t["costed"] = cost.notna().to_numpy()
    t["day"] = t[C.TS].dt.normalize()
    return t


def window_outcomes(
    lines: pd.DataFrame, customers: pd.Index, first: pd.Timestamp, last: pd.Timestamp
) -> pd.DataFrame:
    """Per customer in ``customers``: revenue, margin, orders, converted over days first..last."""
    w = lines[(lines["day"] >= first) & (lines["day"] <= last)]
    w = w[w[C.CUSTOMER_ID].isin(customers)]
    g = w.groupby(C.CUSTOMER_ID)
    sales = w[w[C.LINE_TYPE] == C.LINE_SALE]
    out = pd.DataFrame(
        {
            REVENUE: g[REVENUE].sum(),
            MARGIN: g[MARGIN].sum(),
            ORDERS: sales.groupby(C.CUSTOMER_ID)[C.ORDER_ID].nunique(),
        }
    ).reindex(customers)
    out = out.fillna(0.0)
    out[CONVERTED] = (out[ORDERS] > 0).astype(float)
    return out


def campaign_frame(
    campaign: Mapping,
    members: pd.DataFrame,
    lines: pd.DataFrame,
    attribution_days: int,
) -> pd.DataFrame:
    """One row per member: ``w`` (1 treated, 0 holdout), outcomes after and ``pre_`` before."""
    start = pd.Timestamp(campaign[C.START]).normalize()
    last = pd.Timestamp(campaign[C.END]).normalize() + pd.Timedelta(days=attribution_days)
    span = last - start
    ids = pd.Index(members[C.CUSTOMER_ID].astype(str), name=C.CUSTOMER_ID)
    post = window_outcomes(lines, ids, start, last)
    pre = window_outcomes(lines, ids, start - span - pd.Timedelta(days=1),
                          start - pd.Timedelta(days=1)).add_prefix(PRE)  # fmt: skip
    out = pd.concat([post, pre], axis=1)
    out[TREATMENT] = (members[C.GROUP].to_numpy() == C.GROUP_TREATED).astype(int)
    return out


# --- estimates --------------------------------------------------------------------------------


def _mean_diff(y1: np.ndarray, y0: np.ndarray, alpha: float) -> tuple[float, float, float, float]:
    """Difference of means y1 − y0 with a Welch interval and two-sided p-value."""
    cm = CompareMeans(DescrStatsW(y1), DescrStatsW(y0))
    lo, hi = cm.tconfint_diff(alpha=alpha, usevar="unequal")
    _, p, _ = cm.ttest_ind(usevar="unequal")
    return float(y1.mean() - y0.mean()), float(lo), float(hi), float(p)


def estimate(frame: pd.DataFrame, alpha: float = 0.05, diff_in_diff: bool = False) -> dict:
    """Per-customer effects of treatment (``w``) on every outcome, with intervals and p-values.

    ``diff_in_diff``: the outcomes are (after − before) per customer (matched designs)."""
    t, h = frame[frame[TREATMENT] == 1], frame[frame[TREATMENT] == 0]
    out = {"n_treated": len(t), "n_control": len(h)}
    for y in (REVENUE, MARGIN, ORDERS):
        y1, y0 = t[y].to_numpy(float), h[y].to_numpy(float)
        if diff_in_diff:
            y1, y0 = y1 - t[PRE + y].to_numpy(float), y0 - h[PRE + y].to_numpy(float)
        eff, lo, hi, p = _mean_diff(y1, y0, alpha)
        out |= {f"{y}_per_customer": eff, f"{y}_lo": lo, f"{y}_hi": hi, f"{y}_p": p,
                f"{y}_treated_mean": float(t[y].mean()), f"{y}_control_mean": float(h[y].mean())}  # fmt: skip
    c1, c0 = int(t[CONVERTED].sum()), int(h[CONVERTED].sum())
    out |= {"conversion_treated": c1 / max(len(t), 1), "conversion_control": c0 / max(len(h), 1)}
    if diff_in_diff:
        d1 = t[CONVERTED].to_numpy(float) - t[PRE + CONVERTED].to_numpy(float)
        d0 = h[CONVERTED].to_numpy(float) - h[PRE + CONVERTED].to_numpy(float)
        eff, lo, hi, p = _mean_diff(d1, d0, alpha)
    else:
        lo, hi = confint_proportions_2indep(c1, len(t), c0, len(h), compare="diff",
                                            method="newcomb", alpha=alpha)  # fmt: skip
        p = test_proportions_2indep(c1, len(t), c0, len(h), compare="diff").pvalue
        eff = out["conversion_treated"] - out["conversion_control"]
    out |= {"conversion_uplift": float(eff), "conversion_lo": float(lo),
            "conversion_hi": float(hi), "conversion_p": float(p)}  # fmt: skip
    return out


def matched_control(
    treated: pd.DataFrame,
    pool: pd.DataFrame,
    features: Sequence[str],
    seed: int,
    caliper: float,
    match_on: Sequence[str] = (),
) -> pd.DataFrame:
    """Nearest non-member of each treated customer on the logit propensity and the pre-send
    features, with replacement (causalml ``NearestNeighborMatch``)."""
    from causalml.match import NearestNeighborMatch
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    both = pd.concat([treated.assign(**{TREATMENT: 1}), pool.assign(**{TREATMENT: 0})])
    x = both[list(features)].to_numpy(float)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(x, both[TREATMENT].to_numpy())
    p = np.clip(model.predict_proba(x)[:, 1], 1e-6, 1 - 1e-6)
    both["score"] = np.log(p / (1 - p))
    matcher = NearestNeighborMatch(replace=True, ratio=1, caliper=caliper, shuffle=True,
                                   random_state=seed)  # fmt: skip
    # the score plus the few covariates that drive purchases (standardised by causalml): a
    # propensity alone pairs customers with equal scores but different histories where overlap
    # is thin; all ~20 features at once leave too few pairs inside the caliper
    on = [c for c in match_on if c in both]
    return matcher.match(data=both, treatment_col=TREATMENT, score_cols=["score", *on])


def roi(effects: Mapping, cost: float) -> dict:
    """Totals over the treated customers and ROI = incremental margin / cost (with its interval)."""
    n = effects["n_treated"]
    out = {f"incremental_{y}": effects[f"{y}_per_customer"] * n for y in (REVENUE, MARGIN, ORDERS)}
    out |= {f"incremental_{y}_lo": effects[f"{y}_lo"] * n for y in (REVENUE, MARGIN)}
    out |= {f"incremental_{y}_hi": effects[f"{y}_hi"] * n for y in (REVENUE, MARGIN)}
    out["incremental_conversions"] = effects["conversion_uplift"] * n
    out["cost"] = cost
    if cost > 0:
        out |= {"roi": out["incremental_margin"] / cost,
                "roi_lo": out["incremental_margin_lo"] / cost,
                "roi_hi": out["incremental_margin_hi"] / cost}  # fmt: skip
    else:
        out |= {"roi": np.nan, "roi_lo": np.nan, "roi_hi": np.nan}
    return out


def verdict(row: Mapping, alpha: float) -> str:
    """What a marketer should read from the numbers."""
    if not np.isfinite(row.get("roi", np.nan)):
        return "no cost recorded: ROI unknown"
    if row["roi_hi"] < 1:
        return "did not pay (ROI < 1 with 95 % confidence): cut or rework"
    if row["roi_lo"] > 1:
        return "paid (ROI > 1 with 95 % confidence)"
    if row["revenue_p"] > alpha and row["conversion_p"] > alpha:
        return "inconclusive: no significant effect — see power for the sample needed"
    return "effect significant, ROI not yet certain above 1"


# --- power ------------------------------------------------------------------------------------


def power_table(
    frame: pd.DataFrame,
    lifts: Sequence[float],
    holdout_share: float,
    alpha: float = 0.05,
    power: float = 0.8,
) -> pd.DataFrame:
    """For the next test of this kind: the smallest detectable effects at this campaign's group
    sizes, and the targeted customers needed (treated + holdout at ``holdout_share``) to detect
    each relative conversion lift in ``lifts`` and the same relative revenue lift."""
    control = frame[frame[TREATMENT] == 0] if (frame[TREATMENT] == 0).any() else frame
    p0 = float(control[CONVERTED].mean())
    sd = float(frame[REVENUE].std(ddof=1)) or 1.0
    m0 = float(control[REVENUE].mean())
    n1 = int((frame[TREATMENT] == 1).sum())
    n0 = int((frame[TREATMENT] == 0).sum())
    rows = []
    ratio = holdout_share / (1 - holdout_share)  # holdout per treated
    if n0 > 1 and n1 > 1:
        es = NormalIndPower().solve_power(nobs1=n1, ratio=n0 / n1, alpha=alpha, power=power)
        d = float(np.ravel(TTestIndPower().solve_power(nobs1=n1, ratio=n0 / n1, alpha=alpha,
                                                       power=power))[0])  # fmt: skip
        es = float(np.ravel(es)[0])
        rows.append({"what": "detectable at this campaign's sizes", "treated": n1, "holdout": n0,
                     "baseline_conversion": p0,
                     "conversion_lift_abs": _abs_lift_for_es(p0, es),
                     "revenue_per_customer_abs": d * sd})  # fmt: skip
    for lift in lifts:
        row = {"what": f"needed for +{lift:.0%}", "baseline_conversion": p0}
        p1 = min(p0 * (1 + lift), 0.999)
        if 0 < p0 < p1:
            n = NormalIndPower().solve_power(effect_size=proportion_effectsize(p1, p0),
                                             ratio=ratio, alpha=alpha, power=power)  # fmt: skip
            row |= {"conversion_lift_abs": p1 - p0, "treated_for_conversion": int(np.ceil(n)),
                    "holdout_for_conversion": int(np.ceil(n * ratio))}  # fmt: skip
        if m0 > 0:
            n = float(np.ravel(TTestIndPower().solve_power(effect_size=lift * m0 / sd,
                                                           ratio=ratio, alpha=alpha,
                                                           power=power))[0])  # fmt: skip
            row |= {"revenue_per_customer_abs": lift * m0, "treated_for_revenue": int(np.ceil(n)),
                    "holdout_for_revenue": int(np.ceil(n * ratio))}  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows)


def _abs_lift_for_es(p0: float, es: float) -> float:
    """The absolute conversion lift whose Cohen's h from ``p0`` is ``es``."""
    if not 0 < p0 < 1:
        return np.nan
    phi = 2 * np.arcsin(np.sqrt(p0)) + es
    return float(np.sin(min(phi, np.pi) / 2) ** 2 - p0)


# --- one campaign -----------------------------------------------------------------------------


def measure(
    camp: Mapping,
    members: pd.DataFrame,
    lines: pd.DataFrame,
    events: pd.DataFrame | None,
    customers: pd.Index,
    channels: Sequence[str],
    cfg: Mapping,
    costed_share: float = 0.0,
) -> tuple[dict, pd.DataFrame]:
    """Effects, totals, ROI and verdict of one campaign (``cfg``: conf/measure) and its member
    frame. Randomised when it has at least ``min_holdout`` held-out members, else matched DiD."""
    alpha, attribution = float(cfg["alpha"]), int(cfg["attribution_days"])
    n_t = int((members[C.GROUP] == C.GROUP_TREATED).sum())
    n_h = int((members[C.GROUP] == C.GROUP_HOLDOUT).sum())
    cost, cost_note = camp[C.COST], "campaign file"
    if pd.isna(cost):
        per_contact = dict(cfg["cost_per_contact"])
        rate = float(per_contact.get(str(camp[C.CHANNEL]), per_contact.get("default", 0.0)))
        cost, cost_note = rate * n_t, f"cost_per_contact {rate:g} x {n_t} treated"
    frame = campaign_frame(camp, members, lines, attribution)
    if n_h >= int(cfg["min_holdout"]):
        method, effects = RANDOMISED, estimate(frame, alpha)
    else:
        match = cfg["matching"]
        treated = frame[frame[TREATMENT] == 1]
        feats = features(lines, events, treated.index, camp[C.START], channels)
        pool_ids = customers.difference(frame.index)
        if len(pool_ids) > int(match["max_pool"]):
            rng = np.random.default_rng(int(match["seed"]))
            pool_ids = pd.Index(
                rng.choice(pool_ids.to_numpy(), int(match["max_pool"]), replace=False)
            )
        pool = features(lines, events, pool_ids, camp[C.START], channels)
        pool = pool[pool["tenure_days"] > 0]  # customers the brand knew at the send
        outcomes = campaign_frame(
            camp, pd.DataFrame({C.CUSTOMER_ID: pool.index, C.GROUP: C.GROUP_HOLDOUT}), lines,
            attribution,
        )  # fmt: skip
        matched = matched_control(
            feats.join(treated.drop(columns=TREATMENT)), pool.join(outcomes.drop(columns=TREATMENT)),
            list(feats.columns), int(match["seed"]), float(match["caliper"]),
            [*match["covariates"], f"share_{camp[C.CHANNEL]}"],
        )  # fmt: skip
        method, effects = OBSERVATIONAL, estimate(matched, alpha, diff_in_diff=True)
        effects["matched_share"] = effects["n_treated"] / max(n_t, 1)  # the rest had no twin
        effects["n_treated"] = n_t  # totals scale to everyone treated
    row = {C.CAMPAIGN_ID: camp[C.CAMPAIGN_ID], C.CAMPAIGN_TYPE: camp[C.CAMPAIGN_TYPE],
           C.CHANNEL: camp[C.CHANNEL], C.START: camp[C.START], C.END: camp[C.END],
           "method": method, "holdout": n_h, "cost_source": cost_note,
           "margin": "unit_cost" if costed_share >= 0.999 else
           f"margin_rate {cfg['margin_rate']} for {1 - costed_share:.0%} of lines",
           **effects, **roi(effects, float(cost))}  # fmt: skip
    row["verdict"] = verdict(row, alpha)
    return row, frame
