"""Audiences that trigger: rules over stage, CLV, RFM, recency and category affinity.

Each rule in ``conf/audiences/default.yaml`` selects customers from one per-customer profile
(RFM + AIPL stage of the latest month + CLV + top category) with conditions:

=========================  =====================================================================
condition                  meaning
=========================  =====================================================================
``recency_days_min/max``   days since the last purchase
``frequency_min``          distinct orders
``clv_tier_min``           CLV tier (1..4)
``clv_top_share``          the top share of customers by predicted 12-month value (0.1: decile)
``p_alive_min``            BG/NBD probability of being alive
``lifecycle_in``           RFM lifecycle stages (new, active, at_risk, dormant)
``aipl_in``                AIPL stages of the latest month
``first_purchase_within``  days since the first purchase at most this
``top_category_in``        the customer's most-bought category
``back_in_stock``          (true) the customer viewed, wished for, carted or bought a SKU that was
                           out of stock in a recent stock snapshot and is in stock in the latest
                           (:func:`back_in_stock`); their recommended items are those SKUs
=========================  =====================================================================

Every audience is dated (``as_of``), carries the reason (the rule's description with the
customer's own figures) and the customer's top recommended items, and passes **suppression**
(contacted by any audience in the last ``suppression_days``, or opted out) before a seeded
**random holdout** (``holdout_share``) is drawn and recorded: the holdout is what a later
campaign measurement compares against. Sends are appended to a contact log so the next run
suppresses them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from src.features import columns as C

log = logging.getLogger(__name__)
AUDIENCE, AS_OF, REASON, ITEMS, GROUP = "audience", "as_of", "reason", "recommended_skus", "group"
TREATED, HOLDOUT = "treated", "holdout"
AUDIENCE_COLUMNS = [AUDIENCE, AS_OF, C.CUSTOMER_ID, GROUP, REASON, ITEMS]
CONDITIONS = {
    "recency_days_min", "recency_days_max", "frequency_min", "clv_tier_min", "clv_top_share",
    "p_alive_min", "lifecycle_in", "aipl_in", "first_purchase_within", "top_category_in",
    "back_in_stock",
}  # fmt: skip
RESTOCKED = "back_in_stock_skus"  # profile column: the restocked SKUs the customer wanted


def back_in_stock(
    inventory: pd.DataFrame,
    events: pd.DataFrame | None,
    transactions: pd.DataFrame,
    as_of: pd.Timestamp,
    lookback_days: int = 28,
    interest_days: int = 90,
    interest_events: tuple[str, ...] = (C.EVENT_VIEW, C.EVENT_WISHLIST, C.EVENT_CART),
    purchases: bool = True,
) -> tuple[pd.Series, pd.DataFrame]:
    """Who wanted a SKU that is back in stock: ``(customer -> "SKU SKU ...", restocked SKUs)``.

    A SKU is *restocked* when its stock over all locations was zero in a snapshot of the
    ``lookback_days`` before the latest snapshot (on or before ``as_of``) and is positive in the
    latest. A customer *wanted* it with an event in ``interest_events`` on it since the first
    snapshot that found it out of stock, or (``purchases``) bought it in the ``interest_days``
    before that (a repeat buyer who found it gone). Needs a stock history (two or more
    snapshots); with one, nobody qualifies and the log says why."""
    empty = pd.Series(dtype=object), pd.DataFrame(columns=[C.SKU, "out_since", "on_hand"])
    inv = inventory[pd.to_datetime(inventory[C.AS_OF]) <= as_of]
    days = sorted(pd.to_datetime(inv[C.AS_OF]).dt.normalize().unique())
    if len(days) < 2:
        log.info("back in stock: %d stock snapshot(s) up to %s; needs a history of two or more",
                 len(days), as_of.date())  # fmt: skip
        return empty
    total = inv.assign(day=pd.to_datetime(inv[C.AS_OF]).dt.normalize()).groupby(
        [C.SKU, "day"])[C.ON_HAND].sum().unstack("day")  # fmt: skip
    latest = days[-1]
    window = [d for d in days[:-1] if d >= latest - pd.Timedelta(days=int(lookback_days))]
    if not window:
        return empty
    was_out = (total[window].fillna(0) <= 0).any(axis=1)
    now_in = total[latest].fillna(0) > 0
    restocked = total.index[was_out & now_in]
    if not len(restocked):
        return empty
    out_since = total.loc[restocked, window].le(0).idxmax(axis=1)
    info = pd.DataFrame({C.SKU: restocked, "out_since": out_since.to_numpy(),
                         "on_hand": total.loc[restocked, latest].to_numpy()})  # fmt: skip
    # wanted while it was out: an interest event between the snapshot that first found it out
    # and the latest; or a purchase of it in the interest_days before it ran out (repeat buyers)
    out_at = info.set_index(C.SKU)["out_since"]
    end = latest + pd.Timedelta(days=1)
    wants = []
    if events is not None and len(events):
        ev = events[events[C.EVENT].isin(list(interest_events)) & events[C.SKU].isin(restocked)]
        ev = ev[(ev[C.TS] >= ev[C.SKU].map(out_at)) & (ev[C.TS] < end)]
        wants.append(ev[[C.CUSTOMER_ID, C.SKU]])
    if purchases:
        tx = transactions
        bought = tx[(tx[C.LINE_TYPE] == C.LINE_SALE) & tx[C.SKU].isin(restocked)
                    & tx[C.CUSTOMER_ID].notna()]  # fmt: skip
        ran_out = bought[C.SKU].map(out_at)
        bought = bought[(bought[C.TS] < ran_out)
                        & (bought[C.TS] >= ran_out - pd.Timedelta(days=int(interest_days)))]  # fmt: skip
        wants.append(bought[[C.CUSTOMER_ID, C.SKU]])
    pairs = pd.concat(wants, ignore_index=True).dropna().astype(str).drop_duplicates()
    per_customer = (
        pairs.sort_values([C.CUSTOMER_ID, C.SKU]).groupby(C.CUSTOMER_ID)[C.SKU].agg(" ".join)
    )
    log.info("back in stock: %d SKUs restocked by %s, wanted by %d customers", len(restocked),
             latest.date(), len(per_customer))  # fmt: skip
    return per_customer, info


def profile(
    rfm: pd.DataFrame,
    aipl: pd.DataFrame | None,
    clv: pd.DataFrame | None,
    transactions: pd.DataFrame,
    products: pd.DataFrame,
) -> pd.DataFrame:
    """One row per customer: RFM, latest AIPL stage, CLV value / tier / p_alive, top category."""
    out = rfm.astype({C.CUSTOMER_ID: str}).copy()
    if aipl is not None and len(aipl):
        last = aipl[aipl["period"] == aipl["period"].max()]
        out = out.merge(
            last[[C.CUSTOMER_ID, "stage"]].astype({C.CUSTOMER_ID: str}).rename(
                columns={"stage": "aipl_stage"}), on=C.CUSTOMER_ID, how="left")  # fmt: skip
    else:
        out["aipl_stage"] = pd.NA
    if clv is not None and len(clv):
        out = out.merge(clv[[C.CUSTOMER_ID, "p_alive", "value_365d", "clv_tier"]].astype(
            {C.CUSTOMER_ID: str}), on=C.CUSTOMER_ID, how="left")  # fmt: skip
    else:
        out["p_alive"], out["value_365d"], out["clv_tier"] = np.nan, np.nan, np.nan
    sales = transactions[(transactions[C.LINE_TYPE] == C.LINE_SALE)
                         & transactions[C.CUSTOMER_ID].notna()]  # fmt: skip
    cat = sales[C.SKU].astype(str).map(products.set_index(C.SKU)[C.CATEGORY].astype(str))
    spend = pd.DataFrame({"c": sales[C.CUSTOMER_ID].astype(str).to_numpy(),
                          "cat": cat.to_numpy(),
                          "v": (sales[C.QTY] * sales[C.UNIT_PRICE]).to_numpy()})  # fmt: skip
    top = (spend.groupby(["c", "cat"])["v"].sum().reset_index()
           .sort_values("v", ascending=False, kind="stable").drop_duplicates("c")
           .set_index("c")["cat"])  # fmt: skip
    out["top_category"] = out[C.CUSTOMER_ID].map(top)
    gap = (out[C.LAST_SEEN] - out[C.FIRST_SEEN]).dt.total_seconds() / 86400.0
    out["days_since_first"] = out[C.RECENCY_DAYS] + gap
    return out


def select(prof: pd.DataFrame, where: Mapping) -> pd.Series:
    unknown = set(where) - CONDITIONS
    if unknown:
        raise ValueError(
            f"audience conditions {sorted(unknown)} unknown; known: {sorted(CONDITIONS)}"
        )
    m = pd.Series(True, index=prof.index)
    w = dict(where)
    if "recency_days_min" in w:
        m &= prof[C.RECENCY_DAYS] >= float(w["recency_days_min"])
    if "recency_days_max" in w:
        m &= prof[C.RECENCY_DAYS] <= float(w["recency_days_max"])
    if "frequency_min" in w:
        m &= prof[C.FREQUENCY] >= float(w["frequency_min"])
    if "clv_tier_min" in w:
        m &= prof["clv_tier"].fillna(0) >= float(w["clv_tier_min"])
    if "clv_top_share" in w:
        cut = prof["value_365d"].quantile(1 - float(w["clv_top_share"]))
        m &= prof["value_365d"].fillna(-np.inf) >= cut
    if "p_alive_min" in w:
        m &= prof["p_alive"].fillna(0) >= float(w["p_alive_min"])
    if "lifecycle_in" in w:
        m &= prof[C.LIFECYCLE].astype(str).isin([str(x) for x in w["lifecycle_in"]])
    if "aipl_in" in w:
        m &= prof["aipl_stage"].astype(str).isin([str(x) for x in w["aipl_in"]])
    if "first_purchase_within" in w:
        m &= prof["days_since_first"] <= float(w["first_purchase_within"])
    if "top_category_in" in w:
        m &= prof["top_category"].astype(str).isin([str(x) for x in w["top_category_in"]])
    if w.get("back_in_stock"):
        m &= prof[RESTOCKED].fillna("").astype(str) != "" if RESTOCKED in prof else False
    return m.fillna(False).astype(bool)


def _reason(rule: Mapping, rows: pd.DataFrame) -> pd.Series:
    base = str(rule.get("description", rule["name"]))
    if rule.get("where", {}).get("back_in_stock"):
        return base + " · back in stock: " + rows[RESTOCKED].astype(str)
    extra = (" · last purchase " + rows[C.RECENCY_DAYS].round().astype(int).astype(str)
             + " days ago · CLV tier " + rows["clv_tier"].fillna(0).astype(int).astype(str)
             + " · stage " + rows[C.LIFECYCLE].astype(str))  # fmt: skip
    return base + extra


def build(
    prof: pd.DataFrame,
    rules: list[Mapping],
    recommendations: pd.DataFrame | None,
    contacts: pd.DataFrame | None,
    as_of: pd.Timestamp,
    suppression_days: int = 14,
    holdout_share: float = 0.1,
    seed: int = 0,
    top_items: int = 5,
    opted_out: set[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The audiences of ``rules`` on ``as_of`` and a report (selected, suppressed, sizes).

    Rules run in order; a customer already in an earlier audience of this run is suppressed from
    the later ones (one message per customer per run)."""
    rng = np.random.default_rng(seed)
    recent = set()
    if contacts is not None and len(contacts):
        since = as_of - pd.Timedelta(days=int(suppression_days))
        recent = set(
            contacts.loc[pd.to_datetime(contacts[AS_OF]) > since, C.CUSTOMER_ID].astype(str)
        )
    opted_out = opted_out or set()
    items = None
    if recommendations is not None and len(recommendations):
        top = recommendations[recommendations["rank"] <= top_items].sort_values(
            [C.CUSTOMER_ID, "rank"])  # fmt: skip
        items = (
            top.astype({C.CUSTOMER_ID: str, C.SKU: str}).groupby(C.CUSTOMER_ID)[C.SKU].agg(" ".join)
        )
    parts, report, taken = [], [], set()
    for rule in rules:
        name = rule["name"]
        chosen = prof[select(prof, rule.get("where", {}))]
        ids = chosen[C.CUSTOMER_ID].astype(str)
        supp_contact = ids.isin(recent | taken)
        supp_opt = ids.isin(opted_out)
        keep = chosen[~(supp_contact | supp_opt).to_numpy()]
        share = float(rule.get("holdout_share", holdout_share))
        group = np.where(rng.random(len(keep)) < share, HOLDOUT, TREATED)
        aud = pd.DataFrame({
            AUDIENCE: name, AS_OF: as_of, C.CUSTOMER_ID: keep[C.CUSTOMER_ID].astype(str).to_numpy(),
            GROUP: group, REASON: _reason(rule, keep).to_numpy(),
            ITEMS: (keep[RESTOCKED].astype(str).to_numpy()
                    if rule.get("where", {}).get("back_in_stock") else
                    keep[C.CUSTOMER_ID].astype(str).map(items).fillna("").to_numpy()
                    if items is not None else ""),
        })  # fmt: skip
        taken |= set(aud[C.CUSTOMER_ID])
        parts.append(aud)
        report.append({AUDIENCE: name, "selected": int(len(chosen)),
                       "suppressed_recent_contact": int(supp_contact.sum()),
                       "suppressed_opted_out": int((supp_opt & ~supp_contact).sum()),
                       "treated": int((group == TREATED).sum()),
                       "holdout": int((group == HOLDOUT).sum())})  # fmt: skip
        log.info("audience %s: %d selected, %d suppressed, %d treated + %d holdout", name,
                 len(chosen), int((supp_contact | supp_opt).sum()),
                 int((group == TREATED).sum()), int((group == HOLDOUT).sum()))  # fmt: skip
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=AUDIENCE_COLUMNS)
    return out[AUDIENCE_COLUMNS], pd.DataFrame(report)


def read_opt_outs(path: str | Path | None) -> set[str]:
    if not path:
        return set()
    frame = pd.read_csv(path, dtype=str)
    if C.CUSTOMER_ID not in frame:
        raise ValueError(f"{path}: an opt-out file needs a '{C.CUSTOMER_ID}' column")
    return set(frame[C.CUSTOMER_ID].dropna().str.strip())
