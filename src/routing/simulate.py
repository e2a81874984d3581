"""Replay an order stream through a routing policy, day by day, with stores' walk-in trade.

Stock is replenished to the policy layer's order-up-to levels at the start of every review
period (weekly, delivered at once); half of a store's walk-in demand of the day comes before the
online orders and half after, and walk-in units a store cannot serve are lost. Online orders may
take a store's stock only above its **reserve** for the rest of the review period (the walk-in
demand quantile at the configured service level, from the policy layer). Costs are what the
shipments cost (handling + shipping) plus a penalty per unit nobody could ship.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from src.routing import duals as D
from src.routing import policies as P
from src.routing.scenario import Scenario


@dataclass
class Result:
    policy: str
    orders: int = 0
    shipments: int = 0
    shipping_cost: float = 0.0
    unfilled_units: float = 0.0
    online_units: float = 0.0
    walkin_demand: float = 0.0
    walkin_filled: float = 0.0
    from_store_orders: int = 0
    seconds: float = 0.0
    route_seconds: list = field(default_factory=list)

    @property
    def cost(self) -> float:
        return self.shipping_cost + P.PENALTY * self.unfilled_units

    def summary(self) -> dict:
        return {
            "policy": self.policy,
            "orders": self.orders,
            "cost_per_order": self.cost / max(self.orders, 1),
            "shipping_cost_per_order": self.shipping_cost / max(self.orders, 1),
            "shipments_per_order": self.shipments / max(self.orders, 1),
            "unfilled_unit_share": self.unfilled_units / max(self.online_units, 1),
            "walkin_fill_rate": self.walkin_filled / max(self.walkin_demand, 1),
            "orders_shipped_from_stores": self.from_store_orders / max(self.orders, 1),
            "seconds": self.seconds,
        }


def orders_of(frame: pd.DataFrame) -> list[P.Order]:
    return [P.Order(str(oid), int(g["zone"].iat[0]), g["sku"].to_numpy(int), g["qty"].to_numpy(float))
            for oid, g in frame.groupby("order_id", sort=False)]  # fmt: skip


def _walkins(stock, demand, res: Result) -> None:
    served = np.minimum(stock, demand)
    stock -= served
    res.walkin_demand += float(demand.sum())
    res.walkin_filled += float(served.sum())


def simulate(
    sc: Scenario,
    policy: str,
    order_up_to: np.ndarray,
    reserve: np.ndarray,
    *,
    review_days: int = 7,
    batch_minutes: int | None = None,
    stores_ship: bool = True,
) -> Result:
    """``order_up_to (nodes, skus)``; ``reserve (review_days + 1, nodes, skus)``: the store
    reserve with ``r`` days of the period left. ``policy``: one of :data:`POLICIES` or ``batch``
    (the MIP every ``batch_minutes``)."""
    t0 = time.perf_counter()
    net = sc.network
    res = Result(policy if batch_minutes is None else f"batch_{batch_minutes}min")
    ship_from = net.ship_from.copy()
    if not stores_ship:
        net.ship_from = ship_from & ~net.is_store
        res.policy += "_no_store_shipping"
    stock = order_up_to.astype(float).copy()
    by_day = {d: g for d, g in sc.orders.groupby("day")}
    try:
        for d in range(sc.days):
            if d % review_days == 0:
                stock = np.maximum(stock, order_up_to)  # order up to S, delivered at once
            left = review_days - d % review_days
            cap_used = np.zeros(net.n_nodes)
            walk = sc.walkin[d].astype(float)
            _walkins(stock, np.floor(walk / 2), res)
            day = by_day.get(d)
            if day is not None:
                lam = None
                if policy == "dual" or batch_minutes is not None:
                    expected = sc.online_rate * left
                    lam = D.inventory_duals(net, _avail(stock, reserve[left], net), expected)
                if batch_minutes is None:
                    for o in orders_of(day):
                        t = time.perf_counter()
                        plan = P.route_one(policy, net, o, _avail(stock, reserve[left], net),
                                           net.capacity - cap_used, lam)  # fmt: skip
                        res.route_seconds.append(time.perf_counter() - t)
                        _account(res, plan, o, net)
                        P.commit(plan, o, stock, cap_used)
                else:
                    window = (day["ts"] - day["ts"].dt.normalize()).dt.total_seconds() // (
                        60 * batch_minutes)  # fmt: skip
                    for _, part in day.groupby(window, sort=True):
                        batch = orders_of(part)
                        plans = P.batch_plans(net, batch, _avail(stock, reserve[left], net),
                                              net.capacity - cap_used, lam)  # fmt: skip
                        for plan, o in zip(plans, batch, strict=True):
                            _account(res, plan, o, net)
                            P.commit(plan, o, stock, cap_used)
            _walkins(stock, walk - np.floor(walk / 2), res)
    finally:
        net.ship_from = ship_from
    res.seconds = time.perf_counter() - t0
    return res


def _avail(stock, reserve, net) -> np.ndarray:
    """What online orders may take: everything at warehouses, above the reserve at stores."""
    out = stock.copy()
    out[net.is_store] = np.maximum(stock[net.is_store] - reserve[net.is_store], 0.0)
    return out


def _account(res: Result, plan: P.Plan, o: P.Order, net) -> None:
    res.orders += 1
    res.shipments += len(plan.shipments)
    res.shipping_cost += plan.cost
    res.unfilled_units += float(o.qty[plan.unfilled].sum())
    res.online_units += float(o.qty.sum())
    res.from_store_orders += int(any(net.is_store[i] for i, _ in plan.shipments))


def clairvoyant(
    sc: Scenario, order_up_to: np.ndarray, review_days: int = 7, time_limit: float = 120.0
) -> dict:
    """Lower bound: every period's orders known in advance and routed in one MIP from the
    period's stock (stores: what the period's walk-ins leave), capacity pooled over the period's
    days (a relaxation, so still a bound), every node a candidate. The bound is the MIP's dual
    bound (its objective when solved to optimality) — a valid lower bound even at a time limit."""
    net = sc.network
    cost, bound, orders, gaps = 0.0, 0.0, 0, []
    for start in range(0, sc.days, review_days):
        days = list(range(start, min(start + review_days, sc.days)))
        stock = order_up_to.astype(float).copy()
        stock[net.is_store] = np.maximum(
            stock[net.is_store] - sc.walkin[days].sum(axis=0)[net.is_store], 0.0)  # fmt: skip
        batch = orders_of(sc.orders[sc.orders["day"].isin(days)])
        info: dict = {}
        plans = P.batch_plans(net, batch, stock, net.capacity * len(days), None,
                              candidates=net.n_nodes, time_limit=time_limit, info=info)  # fmt: skip
        cost += sum(p.cost + P.PENALTY * float(o.qty[p.unfilled].sum())
                    for p, o in zip(plans, batch, strict=True))  # fmt: skip
        bound += min(info["dual_bound"], info["objective"])
        orders += len(batch)
        gaps.append(info["gap"])
    return {"cost_per_order": cost / max(orders, 1), "bound_per_order": bound / max(orders, 1),
            "orders": orders, "max_gap": max(gaps, default=0.0)}  # fmt: skip
