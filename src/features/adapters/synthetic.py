"""A seeded omnichannel retail generator: what the public data lacks, with known truth.

* **channels** ``web``, ``app``, ``store`` (several stores) and ``marketplace``, each exporting its
  own file with its own customer ids (``W…``, ``A…``, ``S…``, ``MP…``);
* **people** use one or more channels; identity attributes arrive with real-world noise: emails
  in other case / with ``+tags`` / Gmail dots, phones in national or international format, a
  loyalty member id where the person is a member; some people give a different email per
  channel, and a few households share one phone (so merges are not trivially perfect);
* **demand** with weekly (weekend peak in stores, weekday peak online) and yearly seasonality,
  price promotions with uplift, intermittent SKUs, and **returns** 3–20 days after a sale;
* **inventory**: a snapshot per location x SKU at the end of the period and weekly ones before it
  (some SKUs out of stock), the stock history back-in-stock audiences need;
* **campaigns with a known true uplift**: each targets a share of one channel's users, holds out
  a random share (or none: an observational campaign), and gives every treated person an extra
  online basket with a probability that depends on their segment at the send (``active`` —
  bought in the last 90 days, ``lapsed`` — bought before, ``never``), so the effect is
  heterogeneous and known: ``campaign_truth`` holds the expected incremental orders and revenue
  per targeted customer, ``uplift_truth`` each member's own uplift;
* **taste** (opt-in, ``taste={…}``; :data:`TASTE` holds the defaults): without it every line is
  drawn from the *global* SKU popularity — nothing personal to learn, so popularity is the right
  recommendation. With it, each person has latent preferences (a main taste segment among
  ``segments``, each segment its own item affinities of ``strength``), staple items re-bought on
  a cycle of their category (``cycle_days``, ``repeat``), baskets with complements (each SKU has a
  partner in its category, added with probability ``complement``) and new items launched during
  the period that people explore (``new_items``, ``novelty``) — so that personalised
  recommenders can beat popularity where they should, and tests can check both directions.

``truth`` maps every ``(source, source_id)`` to the person behind it, so One-ID can be scored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from src.features import columns as C
from src.features.campaigns import CampaignSpec, MembersSpec
from src.features.events import EventSpec
from src.features.identity import merge_precision_recall
from src.features.ingest import IngestOptions, IngestResult, InventorySpec, ingest
from src.features.transactions import SourceSpec

CHANNELS = ("web", "app", "store", "marketplace")
CHANNEL_USE = {"web": 0.6, "app": 0.4, "store": 0.5, "marketplace": 0.2}
CHANNEL_SHARE = {"web": 0.35, "app": 0.25, "store": 0.3, "marketplace": 0.1}
ID_PREFIX = {"web": "W", "app": "A", "store": "S", "marketplace": "MP"}
CATEGORIES = ("apparel", "home", "beauty", "toys")
ONLINE_DC = "dc_online"
MARKETPLACE = "marketplace"
ACTIVE_DAYS = 90  # a member who bought within this many days before the send is `active`
# Default campaigns: a randomised e-mail win-back to web accounts (persuadable lapsed customers,
# "sure things" among the active), a randomised app push, and an app offer to the recently
# active (a budget for 60 % of them) without a holdout (measured observationally). Offsets count from the end when < 0.
CAMPAIGNS = (
    {"id": "C01_email_winback", "type": "win_back", "channel": "web", "day": -120, "days": 14,
     "reach": 0.7, "holdout": 0.2, "cost_per_contact": 0.4, "fixed_cost": 150.0,
     "uplift": {"active": 0.03, "lapsed": 0.30, "never": 0.12}},
    {"id": "C02_app_push", "type": "promotion", "channel": "app", "day": -75, "days": 7,
     "reach": 0.8, "holdout": 0.25, "cost_per_contact": 0.05, "fixed_cost": 50.0,
     "uplift": {"active": 0.10, "lapsed": 0.10, "never": 0.05}},
    {"id": "C03_app_offer", "type": "loyalty", "channel": "app", "day": -40, "days": 10,
     "reach": 0.6, "holdout": 0.0, "only": "active", "cost_per_contact": 1.0, "fixed_cost": 0.0,
     "uplift": {"active": 0.15, "lapsed": 0.0, "never": 0.0}},
)  # fmt: skip
SEGMENTS = ("active", "lapsed", "never")
# Taste (opt-in): the parameters of the personal purchase model, each overridable by config.
TASTE = {
    "segments": 12,  # latent taste segments; each person belongs mainly to one
    "strength": 1.5,  # spread of a segment's item affinities (log scale; 0 = no taste)
    "affinity": 0.8,  # share of a person's free picks from their segment (rest: global popularity)
    "staples": 6.0,  # mean number of staple items per person (Poisson, at least 1)
    "cycle_days": 28.0,  # mean re-buy cycle; each category's own cycle scatters around it
    "repeat": 0.85,  # chance that a due staple is bought in the person's next basket
    "complement": 0.25,  # chance that a line brings its complement into the basket
    "new_items": 0.1,  # share of SKUs launched during the period (uniformly in its second half)
    "novelty": 3.0,  # pick weight of an item in its first 30 days on sale
}


@dataclass
class SyntheticData:
    raw: dict[str, pd.DataFrame]  # channel -> its export (canonical column names)
    locations: pd.DataFrame
    inventory: pd.DataFrame
    truth: pd.DataFrame  # source, source_id, person_id
    params: dict
    events: dict[str, pd.DataFrame] = field(default_factory=dict)  # channel -> its event export
    campaigns: pd.DataFrame | None = None  # the campaigns export (canonical column names)
    members: pd.DataFrame | None = None  # the members export: campaign_id, customer_id, group
    campaign_truth: pd.DataFrame | None = None  # per campaign: expected effects per target
    uplift_truth: pd.DataFrame | None = None  # per member: segment and own uplift
    taste_truth: dict | None = None  # with taste: each person's segment and staples, affinities


def _noisy_email(rng: np.random.Generator, email: np.ndarray) -> np.ndarray:
    out = email.astype(object).copy()
    r = rng.random(len(out))
    upper = r < 0.2
    out[upper] = [e.upper() for e in out[upper]]
    tagged = (r >= 0.2) & (r < 0.3)
    out[tagged] = [e.replace("@", "+shop@") for e in out[tagged]]
    spaced = (r >= 0.3) & (r < 0.4)
    out[spaced] = [f"  {e} " for e in out[spaced]]
    return out


def _noisy_phone(rng: np.random.Generator, national: np.ndarray) -> np.ndarray:
    out = national.astype(object).copy()
    r = rng.random(len(out))
    intl = r < 0.4
    out[intl] = ["+44 " + p[1:] for p in out[intl]]
    dashed = (r >= 0.4) & (r < 0.6)
    out[dashed] = [f"{p[:5]}-{p[5:]}" for p in out[dashed]]
    return out


def generate(
    seed: int = 7,
    n_people: int = 2000,
    n_skus: int = 120,
    n_stores: int = 3,
    start: str = "2023-01-01",
    days: int = 365,
    orders_per_day: float = 40.0,
    anomalies: Sequence[Mapping] = (),
    events: bool = True,
    campaigns: Sequence[Mapping] | None = CAMPAIGNS,
    stock_history_weeks: int = 8,
    taste: Mapping | None = None,
) -> SyntheticData:
    """``anomalies``: planted incidents, each ``{day, days, channel, factor}`` — the order rate of
    ``channel`` (every channel when null) times ``factor`` for ``days`` days from ``day`` (an
    offset from ``start``; negative counts from the end), e.g. a web outage
    ``{day: -2, days: 1, channel: web, factor: 0.1}``; the monitor's alert tests plant one.

    ``campaigns``: each ``{id, type, channel, day, days, reach, holdout, cost_per_contact,
    fixed_cost, uplift: {active, lapsed, never}, only}`` (see :data:`CAMPAIGNS`, the default;
    ``[]`` or null for none). Campaign baskets come from their own random stream and are added
    to the channel's sales, so everything else is the same with or without campaigns.

    ``stock_history_weeks``: weekly stock snapshots before the last day (some SKUs out of stock
    in them), so that back-in-stock audiences have a history; from their own random stream.

    ``taste``: null (default) for purchases from global popularity, or a mapping of
    :data:`TASTE` overrides (``{}`` for the defaults) for personal preferences, staple cycles,
    complements and new items; the orders (who buys when, in which channel) stay the same, their
    lines are drawn from the person's taste (:func:`_taste_lines`, its own random stream)."""
    rng = np.random.default_rng(seed)
    params = dict(
        seed=seed, n_people=n_people, n_skus=n_skus, n_stores=n_stores, start=start, days=days
    )
    if anomalies:  # part of the data's fingerprint (feature-store versions) only when planted
        params["anomalies"] = [dict(a) for a in anomalies]
    if stock_history_weeks:
        params["stock_history_weeks"] = int(stock_history_weeks)
    campaigns = [dict(c) for c in (campaigns or ())]
    if campaigns:
        params["campaigns"] = campaigns
    if taste is not None:
        unknown = set(taste) - set(TASTE)
        if unknown:
            raise ValueError(
                f"synthetic taste: unknown parameters {sorted(unknown)}; known: {sorted(TASTE)}"
            )
        taste = {**TASTE, **{k: float(v) for k, v in taste.items()}}
        params["taste"] = taste

    # --- people and their identities ----------------------------------------------------------
    person = np.arange(n_people)
    first = rng.choice(["anna", "ben", "chloe", "dan", "eva", "finn", "gina", "hugo"], n_people)
    domain = rng.choice(["gmail.com", "outlook.com", "mail.co.uk"], n_people, p=[0.5, 0.3, 0.2])
    email = np.array([f"{f}.{i}@{d}" for f, i, d in zip(first, person, domain, strict=True)])
    phone = np.array([f"07{700000000 + i * 7919 % 99999999:09d}" for i in person])
    household = rng.random(n_people) < 0.03  # shares the phone of the previous person
    phone[1:][household[1:]] = phone[:-1][household[1:]]
    member = rng.random(n_people) < 0.5
    member_id = np.where(member, [f"M{100000 + i}" for i in person], None)
    second_email = rng.random(n_people) < 0.05  # uses another address in the app
    uses = {ch: rng.random(n_people) < p for ch, p in CHANNEL_USE.items()}
    nothing = ~np.any(np.vstack(list(uses.values())), axis=0)
    uses["web"] = uses["web"] | nothing
    home_store = rng.integers(0, n_stores, n_people)

    ids: dict[str, np.ndarray] = {}
    identity: dict[str, pd.DataFrame] = {}
    truth_parts = []
    for ch in CHANNELS:
        users = person[uses[ch]]
        source_ids = np.array([f"{ID_PREFIX[ch]}{i:06d}" for i in range(len(users))])
        rng.shuffle(source_ids)
        ids[ch] = np.full(n_people, None, dtype=object)
        ids[ch][users] = source_ids
        attrs = pd.DataFrame({C.CUSTOMER_ID: source_ids})
        # share of a channel's ids that carry an email (account, e-receipt) / a phone (delivery, till)
        email_share = {"web": 0.95, "app": 0.8, "store": 0.4, "marketplace": 0.0}[ch]
        phone_share = {"web": 0.6, "app": 0.3, "store": 0.7, "marketplace": 0.8}[ch]
        e = email[users].copy()
        if ch == "app":
            e[second_email[users]] = [f"work.{p}@company.com" for p in users[second_email[users]]]
        has = rng.random(len(users)) < email_share
        attrs[C.EMAIL] = np.where(has, _noisy_email(rng, e), None)
        has = rng.random(len(users)) < phone_share
        attrs[C.PHONE] = np.where(has, _noisy_phone(rng, phone[users]), None)
        if ch != "marketplace":
            share = {"web": 0.7, "app": 0.9, "store": 1.0}[ch]
            has = member[users] & (rng.random(len(users)) < share)
            attrs[C.MEMBER_ID] = np.where(has, member_id[users], None)
        identity[ch] = attrs
        truth_parts.append(
            pd.DataFrame({C.SOURCE: ch, C.SOURCE_ID: source_ids, "person_id": users})
        )
    truth = pd.concat(truth_parts, ignore_index=True)

    # --- products, prices, promotions ---------------------------------------------------------
    sku = np.array([f"SKU{i:04d}" for i in range(n_skus)])
    category = rng.choice(CATEGORIES, n_skus)
    base_price = np.round(rng.lognormal(2.5, 0.6, n_skus), 2)
    popularity = rng.lognormal(0, 1.0, n_skus)
    intermittent = rng.random(n_skus) < 0.25
    popularity[intermittent] *= 0.05
    dates = pd.date_range(start, periods=days, freq="D")
    promo = np.zeros((days, n_skus), dtype=bool)
    for j in range(n_skus):
        for _ in range(rng.poisson(days / 120)):
            s = rng.integers(0, max(days - 14, 1))
            promo[s : s + rng.integers(7, 15), j] = True
    discount = rng.uniform(0.2, 0.35, n_skus)
    weight = popularity[None, :] * np.where(promo, 1.8, 1.0)
    weight /= weight.sum(axis=1, keepdims=True)

    # --- orders -------------------------------------------------------------------------------
    doy = dates.dayofyear.to_numpy()
    yearly = 1 + 0.3 * np.sin(2 * np.pi * (doy - 80) / 365.25) + 0.4 * (dates.month == 12)
    weekend = dates.dayofweek.to_numpy() >= 5
    stores = [f"store_{i + 1:02d}" for i in range(n_stores)]
    rows = []
    order_no = 0
    for ch in CHANNELS:
        weekly = np.where(weekend, 1.5, 0.8) if ch == "store" else np.where(weekend, 0.8, 1.1)
        lam = orders_per_day * CHANNEL_SHARE[ch] * yearly * weekly
        for a in anomalies:
            if a.get("channel") in (None, ch):
                first = int(a["day"]) % days
                lam = lam.copy()
                lam[first : first + int(a.get("days", 1))] *= float(a["factor"])
        n_day = rng.poisson(lam)
        day = np.repeat(np.arange(days), n_day)
        users = person[uses[ch]]
        activity = rng.gamma(0.8, size=len(users))
        buyer = users[rng.choice(len(users), len(day), p=activity / activity.sum())]
        n_lines = 1 + rng.poisson(1.2, len(day))
        line_order = np.repeat(np.arange(len(day)), n_lines)
        line_day = day[line_order]
        u = rng.random(len(line_order))
        line_sku = np.empty(len(line_order), dtype=int)
        for d in np.unique(line_day):  # inverse-CDF draws, one day's weights at a time
            mine = line_day == d
            line_sku[mine] = np.searchsorted(np.cumsum(weight[d]), u[mine], side="left")
        line_sku = line_sku.clip(0, n_skus - 1)
        on_promo = promo[line_day, line_sku]
        price = np.round(base_price[line_sku] * np.where(on_promo, 1 - discount[line_sku], 1.0), 2)
        if ch == "store":
            loc = np.array(stores)[home_store[buyer]][line_order]
        else:
            loc = np.full(len(line_order), MARKETPLACE if ch == "marketplace" else ONLINE_DC)
        seconds = rng.integers(8 * 3600, 21 * 3600, len(day))
        ts = dates[day] + pd.to_timedelta(seconds, unit="s")
        order_ids = np.array([f"{ID_PREFIX[ch]}O{order_no + i:07d}" for i in range(len(day))])
        order_no += len(day)
        rows.append(
            pd.DataFrame(
                {
                    C.ORDER_ID: order_ids[line_order],
                    C.LINE: np.arange(len(line_order))
                    - np.repeat(np.cumsum(n_lines) - n_lines, n_lines)
                    + 1,
                    C.TS: ts[line_order],
                    "person": buyer[line_order],
                    C.CHANNEL: ch,
                    C.LOCATION_ID: loc,
                    C.SKU: sku[line_sku],
                    C.QTY: 1 + rng.poisson(0.3, len(line_order)),
                    C.UNIT_PRICE: price,
                    C.PROMO: on_promo,
                }
            )
        )
    sales = pd.concat(rows, ignore_index=True)
    taste_truth = None
    if taste is not None:
        sales, taste_truth = _taste_lines(
            sales,
            taste,
            seed,
            n_people,
            sku,
            category,
            popularity,
            base_price,
            discount,
            promo,
            dates[0],
        )
    returned = sales[rng.random(len(sales)) < 0.05].copy()
    returned[C.TS] = returned[C.TS] + pd.to_timedelta(rng.integers(3, 21, len(returned)), unit="D")
    returned = returned[returned[C.TS] < dates[-1] + pd.Timedelta(days=1)]
    returned[C.ORDER_ID] = "R" + returned[C.ORDER_ID]
    returned[C.QTY] = -returned[C.QTY]
    lines = pd.concat([sales, returned], ignore_index=True).sort_values(C.TS, kind="stable")
    lines[C.NAME] = lines[C.SKU].map(
        dict(zip(sku, [f"{c} item {s}" for c, s in zip(category, sku, strict=True)], strict=True))
    )
    lines[C.CATEGORY] = lines[C.SKU].map(dict(zip(sku, category, strict=True)))

    camp = _campaigns(seed, campaigns, sales, uses, dates, sku, base_price, category)
    if camp is not None:
        lines = pd.concat([lines, camp["orders"]], ignore_index=True).sort_values(
            C.TS, kind="stable"
        )
    raw = {}
    for ch in CHANNELS:
        part = lines[lines[C.CHANNEL] == ch].copy()
        part[C.CUSTOMER_ID] = ids[ch][part["person"].to_numpy()]
        if ch == "store":  # a third of store sales are to anonymous walk-in shoppers
            part.loc[rng.random(len(part)) < 0.33, C.CUSTOMER_ID] = None
        part = part.drop(columns="person").merge(identity[ch], on=C.CUSTOMER_ID, how="left")
        raw[ch] = part.reset_index(drop=True)

    locations = pd.DataFrame(
        {
            C.LOCATION_ID: [*stores, ONLINE_DC, MARKETPLACE],
            C.LOCATION_TYPE: ["store"] * n_stores + ["warehouse", "marketplace"],
            C.REGION: [f"region_{i % 2 + 1}" for i in range(n_stores)] + ["national", "national"],
            C.LEAD_TIME_DAYS: [7.0] * n_stores + [5.0, 10.0],
        }
    )
    # routing attributes (a fixed layout, no draws: everything else stays as it was)
    spread = np.linspace(0, 1, max(n_stores, 1))[:n_stores]
    locations[C.LAT] = [*(51.0 + 3.5 * spread), 52.5, np.nan]
    locations[C.LON] = [*(-3.5 + 4.0 * spread[::-1]), -1.5, np.nan]
    locations[C.SHIP_FROM] = [True] * n_stores + [True, False]  # the marketplace ships itself
    locations[C.PICK_CAPACITY] = [25.0] * n_stores + [2000.0, np.nan]
    locations[C.HANDLING_PER_ORDER] = [3.5] * n_stores + [1.0, np.nan]
    locations[C.HANDLING_PER_UNIT] = [0.8] * n_stores + [0.2, np.nan]
    daily = sales.groupby([C.LOCATION_ID, C.SKU])[C.QTY].sum() / days
    inventory = daily.rename("rate").reset_index()
    inventory[C.ON_HAND] = np.floor(inventory["rate"] * rng.uniform(0, 60, len(inventory)))
    inventory.loc[rng.random(len(inventory)) < 0.1, C.ON_HAND] = 0.0
    inventory[C.ON_ORDER] = np.where(
        rng.random(len(inventory)) < 0.3, np.ceil(inventory["rate"] * 14), 0.0
    )
    inventory[C.AS_OF] = dates[-1]
    history = [inventory]
    hist_rng = np.random.default_rng(seed + 30_011)
    for week in range(1, int(stock_history_weeks) + 1):
        if week * 7 >= days:
            break
        past = inventory.copy()
        past[C.ON_HAND] = np.floor(past["rate"] * hist_rng.uniform(0, 60, len(past)))
        past.loc[hist_rng.random(len(past)) < 0.15, C.ON_HAND] = 0.0
        past[C.AS_OF] = dates[-1] - pd.Timedelta(days=7 * week)
        history.append(past)
    inventory = pd.concat(history[::-1], ignore_index=True)[C.INVENTORY]
    bought = sales if camp is None else pd.concat([sales, camp["orders"]], ignore_index=True)
    exports = _events(seed, bought, ids, uses, sku, dates, identity) if events else {}
    out = SyntheticData(
        raw=raw, locations=locations, inventory=inventory, truth=truth, params=params,
        events=exports, taste_truth=taste_truth,
    )  # fmt: skip
    if camp is not None:
        members = camp["members"]
        own_id = np.empty(len(members), dtype=object)
        for ch in members[C.CHANNEL].unique():
            mine = (members[C.CHANNEL] == ch).to_numpy()
            own_id[mine] = ids[ch][members.loc[mine, "person"].to_numpy()]
        members[C.CUSTOMER_ID] = own_id
        out.campaigns = camp["campaigns"]
        out.members = members[[C.CAMPAIGN_ID, C.CUSTOMER_ID, C.GROUP, C.CHANNEL]].reset_index(
            drop=True
        )
        out.campaign_truth = camp["truth"]
        out.uplift_truth = members[[C.CAMPAIGN_ID, C.CUSTOMER_ID, C.CHANNEL, "person", C.GROUP,
                                    "segment", "uplift"]].reset_index(drop=True)  # fmt: skip
        if events:  # the send is recorded as an exposure of each treated member
            sent = members[members[C.GROUP] == C.GROUP_TREATED]
            for ch in set(sent[C.CHANNEL]) & set(exports):
                mine = sent[sent[C.CHANNEL] == ch]
                ev = pd.DataFrame({C.CUSTOMER_ID: mine[C.CUSTOMER_ID].to_numpy(), C.SKU: None,
                                   C.TS: mine["sent"].to_numpy(), C.EVENT: C.EVENT_EXPOSURE,
                                   C.CHANNEL: ch})  # fmt: skip
                ev = ev.merge(identity[ch], on=C.CUSTOMER_ID, how="left")
                both = pd.concat([exports[ch], ev[exports[ch].columns]], ignore_index=True)
                exports[ch] = both.drop_duplicates(
                    [C.CUSTOMER_ID, C.TS, C.EVENT, C.SKU]
                ).sort_values(C.TS, kind="stable", ignore_index=True)
    return out


def _taste_lines(
    sales, taste, seed, n_people, sku, category, popularity, base_price, discount, promo, start
) -> pd.DataFrame:
    """The same orders (order id, time, person, channel, location), their lines re-drawn from
    each person's taste (see the module doc; a random stream of its own).

    Per order, in time order: the person's staples whose cycle has come round (each with
    probability ``repeat``), then free picks — from the person's taste segment with probability
    ``affinity``, else from global popularity; promotions (x1.8) and launches (not before the
    launch day, x``novelty`` in the first 30 days) by acceptance sampling — then each line's
    complement with probability ``complement``."""
    rng = np.random.default_rng(seed + 50_021)
    n_skus, n_days = len(sku), promo.shape[0]
    cats, cat_of = np.unique(category, return_inverse=True)
    # latent preferences: segment x item affinity; each person's main segment
    affinity = popularity[None, :] * np.exp(
        taste["strength"] * rng.standard_normal((int(taste["segments"]), n_skus))
    )
    sources = np.vstack([affinity, popularity[None, :]])  # last row: global popularity
    cdf = np.cumsum(sources / sources.sum(axis=1, keepdims=True), axis=1)
    main = rng.integers(0, len(affinity), n_people)
    launch = np.zeros(n_skus, dtype=int)
    new = rng.random(n_skus) < taste["new_items"]
    launch[new] = rng.integers(n_days // 2, n_days, int(new.sum()))
    # staples: items from the person's segment, launched from the start, each on its cycle
    cycle_of_cat = taste["cycle_days"] * rng.lognormal(0.0, 0.4, len(cats))
    old = np.flatnonzero(~new)
    seg_old = affinity[:, old] / affinity[:, old].sum(axis=1, keepdims=True)
    staples, cycles, last = [], [], []
    for p in range(n_people):
        k = max(1, rng.poisson(taste["staples"]))
        items = old[rng.choice(len(old), size=min(k, len(old)), replace=False, p=seg_old[main[p]])]
        cyc = cycle_of_cat[cat_of[items]] * rng.lognormal(0.0, 0.25, len(items))
        staples.append(items)
        cycles.append(cyc)
        last.append(-rng.uniform(0.0, 1.0, len(items)) * cyc)  # staggered: not all due at once
    # complements: a partner in the same category for every SKU
    partner = np.arange(n_skus)
    for c in range(len(cats)):
        members = np.flatnonzero(cat_of == c)
        partner[members] = rng.permutation(members)

    orders = sales.drop_duplicates(C.ORDER_ID).sort_values(C.TS, kind="stable")
    n_lines = sales.groupby(C.ORDER_ID, sort=False).size().reindex(orders[C.ORDER_ID]).to_numpy()
    day = ((orders[C.TS].dt.normalize() - start).dt.days).to_numpy()
    person = orders["person"].to_numpy()
    picked_order, picked_sku = [], []
    due_orders, due_skus, n_free = [], [], np.empty(len(orders), dtype=int)
    for o in range(len(orders)):
        p, d = person[o], day[o]
        due = (d - last[p]) >= cycles[p] * rng.uniform(0.8, 1.2, len(cycles[p]))
        due &= rng.random(len(due)) < taste["repeat"]
        last[p] = np.where(due, d, last[p])
        items = staples[p][due]
        due_orders.append(np.full(len(items), o))
        due_skus.append(items)
        n_free[o] = n_lines[o] if len(items) == 0 else n_lines[o] - 1
    picked_order.append(np.concatenate(due_orders))
    picked_sku.append(np.concatenate(due_skus))
    # free picks: vectorised acceptance sampling over every line at once
    free_order = np.repeat(np.arange(len(orders)), n_free)
    free_day = day[free_order]
    src = np.where(
        rng.random(len(free_order)) < taste["affinity"], main[person[free_order]], len(affinity)
    )
    choice = np.full(len(free_order), -1)
    top = 1.8 * max(taste["novelty"], 1.0)
    for _ in range(50):
        todo = np.flatnonzero(choice < 0)
        if not len(todo):
            break
        u, draw = rng.random(len(todo)), np.empty(len(todo), dtype=int)
        for k in np.unique(src[todo]):  # inverse-CDF draws, one source (segment) at a time
            mine = src[todo] == k
            draw[mine] = np.searchsorted(cdf[k], u[mine], side="right")
        draw = draw.clip(0, n_skus - 1)
        d = free_day[todo]
        weight = np.where(promo[np.minimum(d, n_days - 1), draw], 1.8, 1.0) * np.where(
            (d >= launch[draw]) & (d < launch[draw] + 30) & new[draw], taste["novelty"], 1.0
        )
        ok = (d >= launch[draw]) & (rng.random(len(todo)) < weight / top)
        choice[todo[ok]] = draw[ok]
    keep = choice >= 0  # a pick that kept failing (only unlaunched items drawn) is dropped
    picked_order.append(free_order[keep])
    picked_sku.append(choice[keep])
    lines = pd.DataFrame({"o": np.concatenate(picked_order), "s": np.concatenate(picked_sku)})
    comp = lines[rng.random(len(lines)) < taste["complement"]].assign(
        s=lambda f: partner[f["s"].to_numpy()]
    )
    comp = comp[day[comp["o"].to_numpy()] >= launch[comp["s"].to_numpy()]]
    lines = pd.concat([lines, comp]).drop_duplicates().sort_values("o", kind="stable")
    o, s = lines["o"].to_numpy(), lines["s"].to_numpy()
    head = orders[[C.ORDER_ID, C.TS, "person", C.CHANNEL, C.LOCATION_ID]].iloc[o]
    on_promo = promo[np.minimum(day[o], n_days - 1), s]
    out = head.reset_index(drop=True).assign(
        **{
            C.SKU: sku[s],
            C.QTY: 1 + rng.poisson(0.3, len(o)),
            C.UNIT_PRICE: np.round(base_price[s] * np.where(on_promo, 1 - discount[s], 1.0), 2),
            C.PROMO: on_promo,
        }
    )
    out[C.LINE] = out.groupby(C.ORDER_ID, sort=False).cumcount() + 1
    truth = {"segment": main, "staples": [sku[i] for i in staples], "affinity": affinity,
             "launch": launch, "partner": sku[partner]}  # fmt: skip
    return out[sales.columns].reset_index(drop=True), truth


def _campaigns(seed, campaigns, sales, uses, dates, sku, base_price, category) -> dict | None:
    """Campaign exports with a known effect (a random stream of their own; see the module doc).

    Each treated member places one extra online basket (1 + Poisson(1.2) lines of uniformly
    drawn SKUs, one unit each at the regular price) on a uniform day of the campaign window with
    probability ``uplift[segment]``: the expected incremental revenue per targeted customer is
    ``mean(uplift) x 2.2 x mean(base_price)``, orders ``mean(uplift)``."""
    if not campaigns:
        return None
    rng = np.random.default_rng(seed + 20_011)
    n_days = len(dates)
    basket_value = 2.2 * float(base_price.mean())
    orders, members, rows, truth = [], [], [], []
    order_no = 0
    for c in campaigns:
        ch, first = c["channel"], int(c["day"]) % n_days
        days = int(c.get("days", 7))
        start = dates[first]
        before = sales[sales[C.TS] < start].groupby("person")[C.TS].max()
        users = np.flatnonzero(uses[ch])
        last = before.reindex(users)
        recent = (start - last) <= pd.Timedelta(days=ACTIVE_DAYS)
        segment = np.where(last.isna(), "never", np.where(recent, "active", "lapsed"))
        pool = users if not c.get("only") else users[segment == c["only"]]
        seg_of = dict(zip(users, segment, strict=True))
        reach = float(c.get("reach", 1.0))
        target = pool[rng.random(len(pool)) < reach]
        hold = rng.random(len(target)) < float(c.get("holdout", 0.0))
        seg = np.array([seg_of[p] for p in target], dtype=object)
        uplift = np.array([float(c["uplift"].get(s, 0.0)) for s in seg])
        treated = target[~hold]
        respond = rng.random(len(treated)) < uplift[~hold]
        buyers = treated[respond]
        day = first + rng.integers(0, days, len(buyers))
        n_lines = 1 + rng.poisson(1.2, len(buyers))
        line_order = np.repeat(np.arange(len(buyers)), n_lines)
        pick = rng.integers(0, len(sku), len(line_order))
        ts = dates[np.minimum(day, n_days - 1)] + pd.to_timedelta(
            rng.integers(8 * 3600, 21 * 3600, len(buyers)), unit="s"
        )
        ids = np.array([f"{ID_PREFIX[ch]}C{order_no + i:07d}" for i in range(len(buyers))])
        order_no += len(buyers)
        orders.append(pd.DataFrame({
            C.ORDER_ID: ids[line_order],
            C.LINE: np.arange(len(line_order)) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines) + 1,
            C.TS: ts[line_order], "person": buyers[line_order], C.CHANNEL: ch,
            C.LOCATION_ID: ONLINE_DC, C.SKU: sku[pick], C.QTY: 1, C.UNIT_PRICE: base_price[pick],
            C.PROMO: False,
        }))  # fmt: skip
        group = np.where(hold, C.GROUP_HOLDOUT, C.GROUP_TREATED)
        members.append(pd.DataFrame({C.CAMPAIGN_ID: c["id"], "person": target, C.GROUP: group,
                                     C.CHANNEL: ch, "segment": seg, "uplift": uplift,
                                     "sent": start + pd.Timedelta(hours=9)}))  # fmt: skip
        n_treated = int((~hold).sum())
        cost = float(c.get("cost_per_contact", 0.0)) * n_treated + float(c.get("fixed_cost", 0.0))
        end = dates[min(first + days - 1, n_days - 1)]
        rows.append({C.CAMPAIGN_ID: c["id"], C.CAMPAIGN_TYPE: c.get("type", "campaign"),
                     C.CHANNEL: ch, C.START: start, C.END: end, C.COST: round(cost, 2)})  # fmt: skip
        truth.append({
            C.CAMPAIGN_ID: c["id"], "targeted": len(target), "treated": n_treated,
            "holdout": int(hold.sum()), "randomised": bool(hold.any()),
            "orders_per_customer": float(uplift.mean()) if len(uplift) else 0.0,
            "revenue_per_customer": float(uplift.mean()) * basket_value if len(uplift) else 0.0,
            "revenue_per_treated": float(uplift[~hold].mean()) * basket_value if n_treated else 0.0,
            **{f"uplift_{s}": float(c["uplift"].get(s, 0.0)) for s in SEGMENTS},
            **{f"share_{s}": float((seg == s).mean()) if len(seg) else 0.0 for s in SEGMENTS},
        })  # fmt: skip
    order_lines = pd.concat(orders, ignore_index=True)
    order_lines[C.NAME] = [f"{category[int(s[3:])]} item {s}" for s in order_lines[C.SKU]]
    order_lines[C.CATEGORY] = [category[int(s[3:])] for s in order_lines[C.SKU]]
    return {"orders": order_lines, "members": pd.concat(members, ignore_index=True),
            "campaigns": pd.DataFrame(rows), "truth": pd.DataFrame(truth)}  # fmt: skip


EVENT_CHANNELS = ("web", "app")  # where browsing is recorded


def _events(seed, sales, ids, uses, sku, dates, identity) -> dict[str, pd.DataFrame]:
    """Engagement events consistent with the purchases (a separate random stream, so the
    transactions are the same with or without them): every online purchase line is preceded by
    a view and an add-to-cart of its SKU; each channel user also browses without buying (views,
    some wishlists), so some people are only ever seen browsing; a weekly newsletter exposes a
    share of the web users (campaign_exposure). Signed-in browsing carries the account's
    identity attributes (as the channel's sales export does), so One-ID can link it."""
    rng = np.random.default_rng(seed + 10_007)
    out = {}
    n_days = len(dates)
    for ch in EVENT_CHANNELS:
        bought = sales[sales[C.CHANNEL] == ch]
        lead = pd.to_timedelta(rng.integers(2, 180, len(bought)), unit="m")
        view = pd.DataFrame({"person": bought["person"].to_numpy(), C.SKU: bought[C.SKU].to_numpy(),
                             C.TS: (bought[C.TS] - lead).to_numpy(), C.EVENT: C.EVENT_VIEW})  # fmt: skip
        cart = view.assign(**{C.TS: (bought[C.TS] - lead / 4).to_numpy(), C.EVENT: C.EVENT_CART})
        users = np.flatnonzero(uses[ch])
        n_browse = rng.poisson(n_days / 20, len(users))
        who = np.repeat(users, n_browse)
        day = rng.integers(0, n_days, len(who))
        browse = pd.DataFrame({
            "person": who, C.SKU: sku[rng.integers(0, len(sku), len(who))],
            C.TS: dates[day] + pd.to_timedelta(rng.integers(7 * 3600, 23 * 3600, len(who)), unit="s"),
            C.EVENT: np.where(rng.random(len(who)) < 0.1, C.EVENT_WISHLIST, C.EVENT_VIEW),
        })  # fmt: skip
        parts = [view, cart, browse]
        if ch == "web":
            mondays = np.flatnonzero(dates.dayofweek == 0)
            for d in mondays:
                got = users[rng.random(len(users)) < 0.3]
                parts.append(pd.DataFrame({"person": got, C.SKU: None,
                                           C.TS: dates[d] + pd.Timedelta(hours=8),
                                           C.EVENT: C.EVENT_EXPOSURE}))  # fmt: skip
        ev = pd.concat(parts, ignore_index=True)
        ev = ev[ev[C.TS] >= dates[0]]
        ev[C.CUSTOMER_ID] = ids[ch][ev["person"].to_numpy()]
        ev = ev.dropna(subset=[C.CUSTOMER_ID]).drop_duplicates(
            [C.CUSTOMER_ID, C.TS, C.EVENT, C.SKU]
        )
        ev[C.CHANNEL] = ch
        ev = ev.merge(identity[ch], on=C.CUSTOMER_ID, how="left")
        keep = [C.CUSTOMER_ID, C.TS, C.EVENT, C.SKU, C.CHANNEL]
        keep += [c for c in (C.MEMBER_ID, C.EMAIL, C.PHONE) if c in ev]
        out[ch] = ev.sort_values(C.TS, kind="stable")[keep].reset_index(drop=True)
    return out


def person_purchases(data: SyntheticData) -> pd.DataFrame:
    """One purchase event per person x SKU x day (``customer_id`` = ``P<person>``): the
    recommendation view of the generated sales with the identity truth applied, so a benchmark
    or a test sees the generator's people without One-ID's errors."""
    parts = []
    for ch, f in data.raw.items():
        f = f[(f[C.QTY] > 0) & f[C.CUSTOMER_ID].notna()]
        person = data.truth[data.truth[C.SOURCE] == ch].set_index(C.SOURCE_ID)["person_id"]
        parts.append(pd.DataFrame({C.CUSTOMER_ID: "P" + f[C.CUSTOMER_ID].map(person).astype(str),
                                   C.SKU: f[C.SKU], C.TS: f[C.TS].dt.normalize()}))  # fmt: skip
    ev = pd.concat(parts, ignore_index=True).drop_duplicates().reset_index(drop=True)
    ev[C.WEIGHT] = 1.0
    return ev


def source_specs(data: SyntheticData) -> list[SourceSpec]:
    specs = []
    for ch, frame in data.raw.items():
        columns = {c: c for c in frame.columns if c != C.COUNTRY}
        specs.append(
            SourceSpec(
                name=ch,
                path=Path("synthetic") / f"{ch}.csv",
                columns=columns,
                channel=ch,
                customer_id_is_member_id=False,
            )
        )
    return specs


def load(options: IngestOptions | None = None, **params) -> IngestResult:
    """Generate (``params`` go to :func:`generate`), then ingest like any other source.

    One-ID is scored against the generator's truth into ``report["identity"]["truth"]``.
    """
    data = generate(**params)
    specs = source_specs(data)
    inventory = InventorySpec(
        path=Path("synthetic") / "inventory.csv", columns={c: c for c in C.INVENTORY}
    )
    event_specs = [
        EventSpec(name=ch, path=Path("synthetic") / f"{ch}_events.csv", channel=ch,
                  columns={c: c for c in data.events[ch].columns})
        for ch in data.events
    ]  # fmt: skip
    frames = {str(s.path): data.raw[s.name] for s in specs} | {str(inventory.path): data.inventory}
    frames |= {str(e.path): data.events[e.name] for e in event_specs}
    campaign_specs = []
    if data.campaigns is not None:
        for ch, members in data.members.groupby(C.CHANNEL):  # members carry the channel's own ids
            mine = data.campaigns[data.campaigns[C.CHANNEL] == ch]
            spec = CampaignSpec(
                name=f"campaigns_{ch}", path=Path("synthetic") / f"campaigns_{ch}.csv",
                columns={c: c for c in mine.columns},
                members=MembersSpec(name=ch, path=Path("synthetic") / f"members_{ch}.csv",
                                    columns={c: c for c in C.CAMPAIGN_MEMBERS[:3]}),
            )  # fmt: skip
            frames |= {str(spec.path): mine, str(spec.members.path): members}
            campaign_specs.append(spec)
    result = ingest(
        specs, options, inventory=inventory, events=event_specs, raw_frames=frames,
        locations=data.locations, campaigns=campaign_specs,
    )  # fmt: skip
    if data.campaign_truth is not None:  # what the measurement must find
        result.report["campaigns"]["truth"] = data.campaign_truth.to_dict("records")
    result.report["data_fingerprint"] = hashlib.sha256(
        json.dumps(data.params, sort_keys=True).encode()
    ).hexdigest()
    precision, recall = score_identity(result.tables.identity_map, data.truth)
    result.report["identity"]["truth"] = {"merge_precision": precision, "merge_recall": recall}
    return result


def score_identity(identity_map: pd.DataFrame, truth: pd.DataFrame) -> tuple[float, float]:
    joined = truth.merge(
        identity_map.astype({C.SOURCE: object, C.SOURCE_ID: object}),
        on=[C.SOURCE, C.SOURCE_ID],
        how="inner",
    )
    return merge_precision_recall(joined[C.CUSTOMER_ID], joined["person_id"])
