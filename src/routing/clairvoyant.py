"""The clairvoyant reference under the online policies' own rules: a week's orders known in advance.

:func:`src.routing.simulate.clairvoyant` knows more than the orders: it serves the week's walk-in
demand first and lets online orders take every store unit left, whatever the reserve. That is a
bound on what *any* allocation of the week's stock could do, but most of its distance from the
online policies is the store reserve the issue requires (walk-in fill no worse than without
ship-from-store), not routing.

:func:`protected` keeps the rules the simulated policies live under and gives the MIP only the
knowledge of every order of the week:

* stores ship only stock above their reserve. In the simulation an order on day ``k`` of the week
  may take a store's unit only while ``shipped so far + walk-ins so far + reserve[days left] <= S``
  (walk-ins so far: every earlier day's and the first half of day ``k``'s; once walk-ins are lost
  the store is empty until replenishment and the inequality reads the same). The MIP holds it
  exactly, per store x SKU x day: what has shipped by the end of day ``k`` is at most the running
  maximum of the daily limits (true whether or not the store ships that day), and at most day
  ``k``'s own limit when it does ship that day — an indicator per cell where the two differ;
* warehouses ship from the week's order-up-to level; pick capacity is per day, as in the
  simulation; a line ships whole from one node or not at all (25 per unit unfilled).

Every simulated policy's plan is a feasible point of this MIP (a test checks the bound against
all of them), so its dual bound — valid at a time limit — bounds what they can reach with the
same information about stock and walk-ins; the incumbent and the proven gap are reported with it.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from src.routing import policies as P
from src.routing.scenario import Scenario


def store_limits(order_up_to, walkin, reserve, is_store, running: bool = True) -> np.ndarray:
    """``(days, nodes, skus)``: the most a store may have shipped online by the end of each day of
    a review period (see the module docstring); warehouses: their order-up-to level. ``running``:
    the running maximum (what holds on every day); else each day's own limit (what holds on a
    day the store ships)."""
    days = walkin.shape[0]
    w = walkin.astype(float)
    before = np.cumsum(w, axis=0) - w + np.floor(w / 2)  # walk-ins before day k's orders
    left = len(reserve) - 1 - np.arange(days)  # days of the period left on day k
    limit = order_up_to[None] - before - reserve[left]
    limit = np.maximum(limit, 0.0)
    if running:
        limit = np.maximum.accumulate(limit, axis=0)
    out = np.broadcast_to(order_up_to.astype(float), limit.shape).copy()
    out[:, is_store] = limit[:, is_store]
    return out


def _week_mip(net, orders, order_day, limits, exact,
              time_limit: float) -> tuple[float, float, float, list[P.Plan]]:  # fmt: skip
    """One week's MIP; ``limits`` the running-maximum limits, ``exact`` each day's own (see
    :func:`store_limits`). Returns (objective, dual bound, gap, plans)."""
    n_days = limits.shape[0]
    usable = net.ship_from & (net.capacity >= 1)
    avail = limits.max(axis=0)
    nodes = np.flatnonzero(usable)
    v = P.line_variables(net, orders, avail, lambda o: nodes, np.zeros_like(avail))
    n_x, n_y, n_l = v.sizes
    x_line, x_node, qty, order_of = v.x_line, v.x_node, v.qty, v.order_of
    y_day = np.asarray(order_day)[[k for (k, _) in v.y_key]]
    # stock: cumulative by day (a warehouse's limit is the same every day, so one row over the
    # week binds; a store's row on every day it may ship, over all days up to it)
    day_x = np.asarray(order_day)[order_of[x_line]]
    key = x_node * avail.shape[1] + v.sku[x_line]
    store_x = net.is_store[x_node]
    blocks = [(~store_x, np.unique(key[~store_x]), -1)]
    for d in range(n_days):
        keys = np.unique(key[store_x & (day_x == d)])
        if len(keys):
            blocks.append((store_x & (day_x <= d) & np.isin(key, keys), keys, d))
    # where a store's own limit that day is below the running maximum, an indicator z ("ships
    # from here today") enforces the day's limit exactly: cum + M z <= running max, M = the excess
    # (z = 0: the running max, valid whenever nothing ships that day); per block, the positions
    # of its keys that get one and their excess
    zs = []
    for _, keys, d in blocks:
        excess = (limits[d] - exact[d]).reshape(-1)[keys] if d >= 0 else np.zeros(len(keys))
        has = np.flatnonzero(excess > 1e-9)
        zs.append((has, excess[has]))
    n_z = sum(len(h) for h, _ in zs)
    n = n_x + n_y + n_l + n_z
    ar = np.arange
    c = np.concatenate([v.x_cost, v.y_cost, P.PENALTY * qty, np.zeros(n_z)])
    rows, cols, vals, b = [], [], [], []
    xz_x, xz_z = [], []  # x <= z pairs
    row, z0 = 0, n - n_z
    for (mask, keys, d), (has, excess) in zip(blocks, zs, strict=True):
        rows += [row + np.searchsorted(keys, key[mask]), row + has]
        cols += [np.flatnonzero(mask), z0 + ar(len(has))]
        vals += [qty[x_line[mask]], excess]
        b.append(limits[d].reshape(-1)[keys])
        if len(has):  # the lines shipping from such a cell that day need its indicator on
            z_of = np.full(len(keys), -1)
            z_of[has] = z0 + ar(len(has))
            today = np.flatnonzero(store_x & (day_x == d))  # their keys are this block's keys
            z = z_of[np.searchsorted(keys, key[today])]
            xz_x.append(today[z >= 0])
            xz_z.append(z[z >= 0])
        row += len(keys)
        z0 += len(has)
    a_stock = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                            shape=(row, n))  # fmt: skip
    y_node = np.array([i for (_, i) in v.y_key], int)
    cap_key = y_day * net.n_nodes + y_node
    ck, crow = np.unique(cap_key, return_inverse=True)
    a_cap = sp.csr_matrix((np.ones(n_y), (crow, n_x + ar(n_y))), shape=(len(ck), n))
    cons = [*P.assignment_constraints(v, n),
            LinearConstraint(a_stock, -np.inf, np.concatenate(b)),
            LinearConstraint(a_cap, -np.inf, np.floor(net.capacity[ck % net.n_nodes]))]  # fmt: skip
    if xz_x:  # x <= z: a line ships from the store that day only if its indicator is on
        xs, zs_ = np.concatenate(xz_x), np.concatenate(xz_z)
        m = len(xs)
        a_z = sp.csr_matrix((np.concatenate([np.ones(m), -np.ones(m)]),
                             (np.concatenate([ar(m), ar(m)]), np.concatenate([xs, zs_]))),
                            shape=(m, n))  # fmt: skip
        cons.append(LinearConstraint(a_z, -np.inf, 0))
    res = milp(c, constraints=cons, integrality=np.ones(n), bounds=Bounds(0, 1),
               options={"time_limit": time_limit, "mip_rel_gap": 1e-4})  # fmt: skip
    bound = float(getattr(res, "mip_dual_bound", None) or (res.fun if res.x is not None else 0.0))
    if res.x is None:
        return np.inf, bound, np.inf, []
    plans = P.plans_from(net, orders, v, res.x)
    return (
        float(res.fun),
        min(bound, float(res.fun)),
        float(getattr(res, "mip_gap", 0.0) or 0.0),
        plans,
    )


def protected(sc: Scenario, order_up_to: np.ndarray, reserve: np.ndarray, review_days: int = 7,
              time_limit: float = 60.0) -> dict:  # fmt: skip
    """Clairvoyant on the orders, under the same store protection, stock and capacities as the
    simulated policies: the lower bound (the MIP's dual bound) and its incumbent's cost."""
    from src.routing.simulate import orders_of

    net = sc.network
    cost, bound, orders, gaps = 0.0, 0.0, 0, []
    for start in range(0, sc.days, review_days):
        days = np.arange(start, min(start + review_days, sc.days))
        args = (order_up_to, sc.walkin[days], reserve[: review_days + 1], net.is_store)
        limits, exact = store_limits(*args), store_limits(*args, running=False)
        week = sc.orders[sc.orders["day"].isin(days)]
        batch = orders_of(week)
        day_of = week.groupby("order_id", sort=False)["day"].first().to_numpy() - start
        obj, lb, gap, _ = _week_mip(net, batch, day_of, limits, exact, time_limit)
        bound += lb
        cost += obj
        gaps.append(gap)
        orders += len(batch)
    return {"cost_per_order": cost / max(orders, 1), "bound_per_order": bound / max(orders, 1),
            "orders": orders, "max_gap": max(gaps, default=0.0)}  # fmt: skip
