"""Replay actual demand day by day under a replenishment plan; measure what it delivers.

One simulation runs every series at once (NumPy arrays of length N), day by day:

1. receipts due today arrive (ordered ``L`` days earlier);
2. on an ordering day — every review day for ``RS``, every day for the continuous-review
   ``sS``/``sQ`` — the inventory position ``on hand + on order - backorders`` is compared with
   the plan's levels in force that day, and an order (rounded to MOQ and case packs) is placed;
3. today's demand is served from stock; what cannot be served is lost (``lost_sales``) or
   backordered and served first from later receipts.

Stock is counted at the end of the day. Units are conserved exactly:
``initial + received = shipped + final`` (tested), where ``shipped`` includes backorders filled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from src.policy.policies import POLICIES, inventory_position, order_quantity, round_to_pack


@dataclass
class Plan:
    """Levels a policy uses, recomputed on ``update_days`` (row ``k`` applies from
    ``update_days[k]`` until the next update). Arrays are ``(n_updates, N)``."""

    kind: str
    order_up_to: np.ndarray
    update_days: np.ndarray
    reorder_point: np.ndarray | None = None
    lot_size: np.ndarray | None = None

    def __post_init__(self):
        if self.kind not in POLICIES:
            raise ValueError(f"unknown policy kind {self.kind!r}; known: {POLICIES}")
        self.order_up_to = np.atleast_2d(np.asarray(self.order_up_to, float))
        self.update_days = np.asarray(self.update_days, int)
        if len(self.update_days) != self.order_up_to.shape[0]:
            raise ValueError("one row of levels per update day is needed")
        if self.kind != "RS" and self.reorder_point is None:
            raise ValueError(f"policy {self.kind!r} needs reorder points")


@dataclass
class SimSettings:
    lead_time: float | np.ndarray = 7  # days, one value or one per series
    review_period: int = 7
    first_review: int = 0
    lost_sales: bool = True
    lead_time_std: float = 0.0
    moq: float | np.ndarray = 0.0
    case_pack: float | np.ndarray = 1.0
    seed: int = 0


@dataclass
class SimResult:
    kpis: dict
    per_series: pd.DataFrame
    daily: pd.DataFrame = field(repr=False)


def simulate(
    demand: np.ndarray,
    plan: Plan,
    settings: SimSettings,
    unit_value: np.ndarray | None = None,
    initial_on_hand: np.ndarray | None = None,
    ids: np.ndarray | None = None,
) -> SimResult:
    """Simulate ``demand`` ``(N, T)`` (units per series and day) under ``plan``."""
    demand = np.asarray(demand, float)
    if demand.ndim != 2:
        raise ValueError("demand must be (series, days)")
    if np.any(demand < 0) or not np.all(np.isfinite(demand)):
        raise ValueError("demand must be finite and non-negative")
    n, t_days = demand.shape
    if plan.order_up_to.shape[1] != n:
        raise ValueError(f"plan has {plan.order_up_to.shape[1]} series, demand has {n}")
    value = np.ones(n) if unit_value is None else np.asarray(unit_value, float)
    on_hand = (
        plan.order_up_to[0].copy()
        if initial_on_hand is None
        else np.asarray(initial_on_hand, float)
    ).copy()
    start = on_hand.copy()
    rng = np.random.default_rng(settings.seed)
    pipeline = np.zeros((t_days + 1, n))  # receipts due per day (beyond horizon: never arrive)
    on_order = np.zeros(n)
    backorders = np.zeros(n)
    received = np.zeros(n)
    orders = np.zeros(n, int)
    trace = {k: np.zeros((n, t_days)) for k in ("on_hand", "served", "lost", "shipped", "ordered")}

    for t in range(t_days):
        arriving = pipeline[t]
        on_hand += arriving
        on_order -= arriving
        received += arriving
        shipped_bo = np.minimum(backorders, on_hand)  # backorders first
        on_hand -= shipped_bo
        backorders -= shipped_bo

        k = np.searchsorted(plan.update_days, t, side="right") - 1
        ordering_day = (
            t >= settings.first_review and (t - settings.first_review) % settings.review_period == 0
            if plan.kind == "RS"
            else True
        )
        if k >= 0 and ordering_day:
            ip = inventory_position(on_hand, on_order, backorders)
            qty = order_quantity(
                plan.kind,
                ip,
                plan.order_up_to[k],
                None if plan.reorder_point is None else plan.reorder_point[k],
                None if plan.lot_size is None else plan.lot_size[k],
            )
            qty = round_to_pack(qty, settings.moq, settings.case_pack)
            lt = np.broadcast_to(np.asarray(settings.lead_time, float), (n,))
            if settings.lead_time_std > 0:
                lt = np.maximum(np.rint(rng.normal(lt, settings.lead_time_std)), 1)
            due = t + lt.astype(int)
            placed = qty > 0
            inside = placed & (due < t_days)
            np.add.at(pipeline, (due[inside], np.flatnonzero(inside)), qty[inside])
            on_order += qty
            orders += placed
            trace["ordered"][:, t] = qty

        d = demand[:, t]
        served = np.minimum(d, on_hand)
        on_hand -= served
        short = d - served
        if settings.lost_sales:
            trace["lost"][:, t] = short
        else:
            backorders += short
        trace["served"][:, t] = served
        trace["shipped"][:, t] = served + shipped_bo
        trace["on_hand"][:, t] = on_hand

    return _summarise(demand, trace, value, start, received, orders, settings, ids)


def _summarise(demand, trace, value, start, received, orders, settings, ids) -> SimResult:
    n, t_days = demand.shape
    unmet = demand - trace["served"]
    dem = demand.sum(axis=1)
    served = trace["served"].sum(axis=1)
    oh_units = trace["on_hand"].mean(axis=1)
    oh_value = oh_units * value
    sold_value_day = trace["shipped"].sum(axis=1) * value / t_days
    stockout_days = (unmet > 1e-9).sum(axis=1)
    # cycle service level: review cycles (from the first review) without unmet demand
    first = settings.first_review
    n_cycles = max((t_days - first) // settings.review_period, 1)
    span = unmet[:, first : first + n_cycles * settings.review_period]
    cycles = span.reshape(n, n_cycles, -1).max(axis=2) > 1e-9 if span.size else np.zeros((n, 1))
    per_series = pd.DataFrame(
        {
            "unique_id": ids if ids is not None else np.arange(n),
            "demand": dem,
            "served": served,
            "fill_rate": np.where(dem > 0, served / np.where(dem > 0, dem, 1), 1.0),
            "cycle_service_level": 1.0 - cycles.mean(axis=1),
            "avg_on_hand_units": oh_units,
            "avg_on_hand_value": oh_value,
            "days_of_cover": np.where(
                sold_value_day > 0,
                oh_value / np.where(sold_value_day > 0, sold_value_day, 1),
                np.inf,
            ),
            "stockout_days": stockout_days,
            "orders_placed": orders,
            "start_units": start,
            "received_units": received,
            "shipped_units": trace["shipped"].sum(axis=1),
            "end_units": trace["on_hand"][:, -1],
        }
    )
    per_series["unit_value"] = value
    per_series["sold_value_day"] = sold_value_day
    per_series["lost_units"] = trace["lost"].sum(axis=1)
    kpis = kpis_of(per_series, t_days)
    daily = pd.DataFrame(
        {
            "day": np.arange(t_days),
            "on_hand_value": (trace["on_hand"] * value[:, None]).sum(axis=0),
            "demand_units": demand.sum(axis=0),
            "served_units": trace["served"].sum(axis=0),
            "ordered_units": trace["ordered"].sum(axis=0),
        }
    )
    return SimResult(kpis=kpis, per_series=per_series, daily=daily)


def kpis_of(per_series: pd.DataFrame, t_days: int) -> dict:
    """The policy's KPIs from its per-series results (so results of partitions merge exactly
    as one simulation of all series would summarise)."""
    p = per_series
    dem, served, value = p["demand"], p["served"], p["unit_value"]
    sold = p["sold_value_day"].sum()
    n = len(p)
    return {
        "fill_rate": float(served.sum() / dem.sum()) if dem.sum() > 0 else 1.0,
        "value_fill_rate": float((served * value).sum() / (dem * value).sum())
        if dem.sum() > 0
        else 1.0,
        # every series has the same number of review cycles: the mean of means is the mean
        "cycle_service_level": float(p["cycle_service_level"].mean()) if n else 1.0,
        "avg_on_hand_units": float(p["avg_on_hand_units"].sum()),
        "avg_on_hand_value": float(p["avg_on_hand_value"].sum()),
        "days_of_cover": float(p["avg_on_hand_value"].sum() / sold) if sold > 0 else float("inf"),
        "stockout_days": int(p["stockout_days"].sum()),
        "stockout_day_share": float(p["stockout_days"].sum() / max(n * t_days, 1)),
        "orders_placed": int(p["orders_placed"].sum()),
        "units_demanded": float(dem.sum()),
        "units_lost": float(p["lost_units"].sum()),
        "series": int(n),
        "days": int(t_days),
    }


def merge(results: list[SimResult]) -> SimResult:
    """One policy's results on disjoint groups of series, as one result."""
    per_series = pd.concat([r.per_series for r in results], ignore_index=True)
    daily = pd.concat([r.daily for r in results]).groupby("day", as_index=False).sum()
    kpis = kpis_of(per_series, int(results[0].kpis["days"]))
    extra = {k: v for k, v in results[0].kpis.items() if k not in kpis}
    return SimResult(kpis={**kpis, **extra}, per_series=per_series, daily=daily)
