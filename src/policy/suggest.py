"""Today's reorder suggestions and transfers, per location x SKU, with their reasons.

``suggestions`` turns levels (:mod:`src.policy.levels`) and inventory positions into the table
DESIGN.md fixes (``location_id, sku, abc_class, service_level, lead_time_days, on_hand,
on_order, safety_stock, reorder_point, order_up_to, order_qty, days_of_cover,
expected_fill_rate``) plus the columns a planner needs to trust a number: class, policy,
position, mean daily demand, rounding, transfers, order value and a one-line ``reason``.

``plan_transfers`` moves stock a location will not need (days of cover above
``excess_days``, beyond its own order-up-to level) to locations of the same SKU that would
otherwise order, before anything new is bought.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from src.features import columns as C
from src.policy.levels import Levels
from src.policy.policies import days_of_cover, inventory_position, order_quantity, round_to_pack

SUGGESTION_COLUMNS = [
    C.LOCATION_ID,
    C.SKU,
    "abc_class",
    "service_level",
    "lead_time_days",
    "on_hand",
    "on_order",
    "safety_stock",
    "reorder_point",
    "order_up_to",
    "order_qty",
    "days_of_cover",
    "expected_fill_rate",
]
TRANSFER_COLUMNS = [
    C.SKU,
    "from_location",
    "to_location",
    "qty",
    "from_days_of_cover_before",
    "from_days_of_cover_after",
    "to_days_of_cover_before",
    "to_days_of_cover_after",
]


def suggestions(
    keys: pd.DataFrame,
    levels: Levels,
    position: pd.DataFrame,
    kind: str,
    service_level: np.ndarray,
    lead_time: np.ndarray,
    moq: np.ndarray,
    case_pack: np.ndarray,
    unit_value: np.ndarray,
) -> pd.DataFrame:
    """One row per ``keys`` row (``location_id, sku, abc_class, xyz_class``), aligned arrays.

    ``position`` has ``on_hand, on_order, backorders, inventory_known`` in the same order.
    """
    on_hand = position["on_hand"].to_numpy(float)
    on_order = position["on_order"].to_numpy(float)
    back = position["backorders"].to_numpy(float)
    ip = inventory_position(on_hand, on_order, back)
    raw = order_quantity(kind, ip, levels.order_up_to, levels.reorder_point, levels.lot_size)
    qty = round_to_pack(raw, moq, case_pack)
    out = keys.reset_index(drop=True).copy()
    out["policy"] = kind
    out["service_level"] = service_level
    out["lead_time_days"] = lead_time
    out["on_hand"] = on_hand
    out["on_order"] = on_order
    out["backorders"] = back
    out["inventory_position"] = ip
    out["inventory_known"] = position["inventory_known"].to_numpy(bool)
    out["mean_daily_demand"] = levels.mean_daily
    out["protection_days"] = levels.protection_days
    out["expected_demand"] = levels.expected_demand
    out["safety_stock"] = levels.safety_stock
    out["reorder_point"] = levels.reorder_point
    out["order_up_to"] = levels.order_up_to
    out["lot_size"] = levels.lot_size
    out["order_qty_unrounded"] = raw
    out["moq"] = moq
    out["case_pack"] = case_pack
    out["order_qty"] = qty
    out["transfer_in"] = 0.0
    out["transfer_out"] = 0.0
    out["unit_value"] = unit_value
    out["order_value"] = qty * unit_value
    out["days_of_cover"] = days_of_cover(on_hand, levels.mean_daily)
    out["days_of_cover_after"] = days_of_cover(ip + qty, levels.mean_daily)
    out["expected_fill_rate"] = levels.expected_fill_rate
    out["reason"] = reasons(out)
    first = [c for c in SUGGESTION_COLUMNS if c in out]
    return out[first + [c for c in out.columns if c not in first]]


def reasons(s: pd.DataFrame) -> list[str]:
    """A sentence per row a planner can read without the formulas."""
    out = []
    for r in s.itertuples(index=False):
        trig = r.order_up_to if r.policy == "RS" else r.reorder_point
        lvl = "order-up-to" if r.policy == "RS" else "reorder point"
        head = "" if r.inventory_known else "no stock record (on hand taken as 0); "
        if r.transfer_in > 0:
            head += f"{r.transfer_in:g} in by transfer; "
        if r.order_qty > 0:
            text = (
                f"position {r.inventory_position:g} below {lvl} {trig:.0f} "
                f"({r.service_level:.0%} service over {r.protection_days:g} days, "
                f"safety stock {r.safety_stock:.0f}): order {r.order_qty:g}"
            )
            if abs(r.order_qty - r.order_qty_unrounded) > 1e-9:
                text += (
                    f" (needed {r.order_qty_unrounded:.0f}, MOQ {r.moq:g}, pack {r.case_pack:g})"
                )
        elif r.mean_daily_demand <= 1e-9:
            text = "no demand expected: no order"
        else:
            text = f"position {r.inventory_position:g} covers {lvl} {trig:.0f}: no order"
        if r.transfer_out > 0:
            text += f"; send {r.transfer_out:g} to other locations"
        out.append(head + text)
    return out


def plan_transfers(s: pd.DataFrame, excess_days: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Move excess stock to locations about to order, per SKU; returns ``(suggestions, transfers)``.

    Givers: days of cover above ``excess_days``; they give what they hold beyond
    ``max(order_up_to, excess_days x daily demand)`` (never their own protection). Takers: rows
    with ``order_qty > 0``, largest need first; the taker's order shrinks by what it receives
    and is re-rounded to MOQ and case pack. Transfers move whole case packs.
    """
    s = s.copy()
    rows = []
    for _sku, g in s.groupby(C.SKU, sort=False):
        if len(g) < 2:
            continue
        daily = g["mean_daily_demand"]
        keep = np.maximum(g["order_up_to"], excess_days * daily)
        spare = (g["on_hand"] - keep).where(g["days_of_cover"] > excess_days, 0.0).clip(lower=0)
        givers = spare[spare > 0].sort_values(ascending=False)
        takers = g.loc[g["order_qty"] > 0, "order_qty_unrounded"].sort_values(ascending=False)
        for t_idx, need in takers.items():
            pack = float(s.at[t_idx, "case_pack"])
            for g_idx in list(givers.index):
                if need <= 0:
                    break
                avail = givers[g_idx]
                qty = np.floor(min(avail, need) / pack) * pack
                if qty <= 0:
                    continue
                rows.append((g_idx, t_idx, qty))
                givers[g_idx] -= qty
                need -= qty
                s.at[g_idx, "transfer_out"] += qty
                s.at[t_idx, "transfer_in"] += qty
    if not rows:
        return s, pd.DataFrame(columns=TRANSFER_COLUMNS)
    before = s["days_of_cover"].copy()
    moved = s["transfer_in"] > 0
    rest = (s["order_qty_unrounded"] - s["transfer_in"]).clip(lower=0)
    s.loc[moved, "order_qty"] = round_to_pack(
        rest[moved], s.loc[moved, "moq"], s.loc[moved, "case_pack"]
    )
    s["order_value"] = s["order_qty"] * s["unit_value"]
    net = s["on_hand"] - s["transfer_out"] + s["transfer_in"]
    s["days_of_cover_after"] = days_of_cover(
        s["inventory_position"] - s["transfer_out"] + s["transfer_in"] + s["order_qty"],
        s["mean_daily_demand"],
    )
    after = pd.Series(days_of_cover(net, s["mean_daily_demand"]), index=s.index)
    s["reason"] = reasons(s)
    t = pd.DataFrame(
        [
            {
                C.SKU: s.at[gi, C.SKU],
                "from_location": s.at[gi, C.LOCATION_ID],
                "to_location": s.at[ti, C.LOCATION_ID],
                "qty": q,
                "from_days_of_cover_before": before[gi],
                "from_days_of_cover_after": after[gi],
                "to_days_of_cover_before": before[ti],
                "to_days_of_cover_after": after[ti],
            }
            for gi, ti, q in rows
        ]
    )
    return s, t
