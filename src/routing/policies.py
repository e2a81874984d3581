"""Where each online order ships from: peers, the dual-price online rule, and the batch MIP.

Pure functions of an order (its lines and destination zone), the stock each node may ship
(stores: only above their walk-in reserve), the capacity left today and the network's costs. A
**plan** is a list of shipments ``(node, [line indices])`` plus the lines nobody can fill.

* ``nearest``  — the nearest node with every line in stock, else each line from the nearest node
  that has it (the rule most omnichannel systems start with);
* ``dc_first`` — the DC when it has everything, else ``nearest``;
* ``fewest_splits`` — greedily the node that covers most of the remaining lines (ties: cheapest);
* ``dual`` — every single-node plan and the split plans above, priced at immediate cost *plus*
  the dual price of the units they take (:mod:`src.routing.duals`); the cheapest wins;
* :func:`batch_plans` — the orders of a release window together, as a MIP (scipy HiGHS): line
  assignment and shipment binaries, node stock and capacity, shipment costs, unfilled lines at a
  penalty, the same dual prices on the units used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from src.routing.network import Network

log = logging.getLogger(__name__)

POLICIES = ("nearest", "dc_first", "fewest_splits", "dual")
PENALTY = 25.0  # cost of a unit nobody can ship (lost sale / later expedite), per unit


@dataclass
class Order:
    order_id: str
    zone: int
    skus: np.ndarray  # (lines,) sku indices
    qty: np.ndarray  # (lines,) units


@dataclass
class Plan:
    shipments: list[tuple[int, list[int]]]
    unfilled: list[int]
    cost: float  # immediate cost (handling + shipping), without penalties or dual prices


def plan_cost(network: Network, order: Order, shipments) -> float:
    return sum(network.shipment_cost(i, order.zone, float(order.qty[lines].sum()))
               for i, lines in shipments)  # fmt: skip


def _usable(network: Network, cap_left: np.ndarray) -> np.ndarray:
    return network.ship_from & (cap_left >= 1)


def _cover(network, order, avail, usable, preference) -> tuple[list, list]:
    """Each line from the first node in ``preference`` that has it (stock taken as it goes)."""
    left = avail[:, order.skus].copy()
    by_node: dict[int, list[int]] = {}
    unfilled = []
    for j in range(len(order.skus)):
        for i in preference:
            if usable[i] and left[i, j] >= order.qty[j]:
                by_node.setdefault(int(i), []).append(j)
                left[i, j] -= order.qty[j]
                break
        else:
            unfilled.append(j)
    return list(by_node.items()), unfilled


def _full_nodes(avail, order, usable) -> np.ndarray:
    return np.flatnonzero(usable & np.all(avail[:, order.skus] >= order.qty[None, :], axis=1))


def _fewest_splits(network, order, avail, usable) -> tuple[list, list]:
    remaining = list(range(len(order.skus)))
    left = avail[:, order.skus].copy()
    shipments = []
    while remaining:
        has = (left[:, remaining] >= order.qty[remaining][None, :]) & usable[:, None]
        n = has.sum(axis=1)
        if n.max() == 0:
            break
        best = np.flatnonzero(n == n.max())
        i = int(best[np.argmin(network.parcel[best, order.zone] + network.per_order[best])])
        lines = [remaining[k] for k in np.flatnonzero(has[i])]
        shipments.append((i, lines))
        for j in lines:
            left[i, j] -= order.qty[j]
        remaining = [j for j in remaining if j not in lines]
    return shipments, remaining


def route_one(
    policy: str,
    network: Network,
    order: Order,
    avail: np.ndarray,
    cap_left: np.ndarray,
    duals: np.ndarray | None = None,
) -> Plan:
    """The plan of ``policy`` for one order, given stock ``avail (nodes, skus)`` the order may
    use and the pick capacity left today."""
    usable = _usable(network, cap_left)
    nearest = np.argsort(network.km[:, order.zone], kind="stable")
    full = _full_nodes(avail, order, usable)
    if policy == "dc_first":
        dc = np.flatnonzero(network.nodes["type"].to_numpy() == "dc")
        if len(dc) and dc[0] in set(full):
            return _plan(network, order, [(int(dc[0]), list(range(len(order.skus))))], [])
        policy = "nearest"
    if policy == "nearest":
        if len(full):
            i = int(full[np.argmin(network.km[full, order.zone])])
            return _plan(network, order, [(i, list(range(len(order.skus))))], [])
        return _plan(network, order, *_cover(network, order, avail, usable, nearest))
    if policy == "fewest_splits":
        return _plan(network, order, *_fewest_splits(network, order, avail, usable))
    if policy == "dual":
        lam = duals if duals is not None else np.zeros_like(avail)
        candidates = [[(int(i), list(range(len(order.skus))))] for i in full]
        options = [(c, []) for c in candidates]
        # split plans: cover lines by node order of (parcel + dual) per line, and fewest splits
        per_line = network.parcel[:, order.zone][:, None] + lam[:, order.skus]
        pref = np.argsort(per_line.mean(axis=1), kind="stable")
        options.append(_cover(network, order, avail, usable, pref))
        options.append(_cover(network, order, avail, usable, nearest))
        options.append(_fewest_splits(network, order, avail, usable))
        best, best_cost = None, np.inf
        for shipments, unfilled in options:
            cost = plan_cost(network, order, shipments) + sum(
                float(lam[i, order.skus[lines]] @ order.qty[lines]) for i, lines in shipments
            ) + PENALTY * float(order.qty[unfilled].sum())  # fmt: skip
            if cost < best_cost - 1e-9:
                best, best_cost = (shipments, unfilled), cost
        return _plan(network, order, *best)
    raise ValueError(f"unknown routing policy {policy!r}; choose from {list(POLICIES)}")


def _plan(network, order, shipments, unfilled) -> Plan:
    return Plan(shipments, list(unfilled), plan_cost(network, order, shipments))


def commit(plan: Plan, order: Order, stock: np.ndarray, cap_used: np.ndarray) -> None:
    """Take the plan's units out of ``stock`` and its shipments out of today's capacity."""
    for i, lines in plan.shipments:
        np.subtract.at(stock[i], order.skus[lines], order.qty[lines])
        cap_used[i] += 1


# --- batch --------------------------------------------------------------------------------------


def _order_candidates(network, order, avail, usable, lam, candidates) -> np.ndarray:
    """The nodes an order's lines may use in the MIP, one set for the whole order: the
    ``candidates`` cheapest nodes that hold the whole order (one parcel), and each line's
    ``candidates`` cheapest holders. Per-line lists alone can miss a node that ships everything
    (each line's cheapest holders hold only that line), and the MIP then splits for want of it."""
    holds = usable[:, None] & (avail[:, order.skus] >= order.qty[None, :])  # (nodes, lines)
    fixed = network.parcel[:, order.zone] + network.per_order
    per_line = lam[:, order.skus] * order.qty[None, :]  # (nodes, lines)
    keep = np.zeros(len(fixed), bool)
    full = np.flatnonzero(holds.all(axis=1))
    if len(full) > candidates:
        full = full[np.argsort(fixed[full] + per_line[full].sum(axis=1), kind="stable")]
    keep[full[:candidates]] = True
    for j in range(len(order.skus)):
        ok = np.flatnonzero(holds[:, j])
        if len(ok) > candidates:
            ok = ok[np.argsort(fixed[ok] + per_line[ok, j], kind="stable")[:candidates]]
        keep[ok] = True
    return np.flatnonzero(keep)


@dataclass
class LineVars:
    """The x (line -> node) and y (order -> node parcel) variables of a routing MIP."""

    x_line: np.ndarray  # (n_x,) row in ``line_of`` of each x
    x_node: np.ndarray
    x_cost: np.ndarray
    y_key: dict  # (order k, node) -> y index
    y_cost: np.ndarray
    line_of: list  # (order k, line j)
    qty: np.ndarray  # per line
    sku: np.ndarray
    order_of: np.ndarray

    @property
    def sizes(self) -> tuple[int, int, int]:
        return len(self.x_line), len(self.y_cost), len(self.line_of)


def line_variables(network, orders, avail, nodes_of, unit_price) -> LineVars:
    """x for each line and each node of ``nodes_of(order)`` holding its units (cost: handling per
    unit + ``unit_price[node, sku]``), y for each order x node used (parcel + handling)."""
    x_line, x_node, x_cost, y_key, y_cost, line_of = [], [], [], {}, [], []
    for k, o in enumerate(orders):
        nodes = nodes_of(o)
        for j, (s, q) in enumerate(zip(o.skus, o.qty, strict=True)):
            r = len(line_of)
            line_of.append((k, j))
            for i in nodes[avail[nodes, s] >= q]:
                if (k, int(i)) not in y_key:
                    y_key[(k, int(i))] = len(y_cost)
                    y_cost.append(network.per_order[i] + network.parcel[i, o.zone])
                x_line.append(r)
                x_node.append(int(i))
                x_cost.append((network.per_unit[i, 0] + unit_price[i, s]) * q)
    return LineVars(np.asarray(x_line, int), np.asarray(x_node, int), np.asarray(x_cost, float),
                    y_key, np.asarray(y_cost, float), line_of,
                    np.array([orders[k].qty[j] for k, j in line_of], float),
                    np.array([orders[k].skus[j] for k, j in line_of], int),
                    np.array([k for k, _ in line_of], int))  # fmt: skip


def assignment_constraints(v: LineVars, n: int) -> list[LinearConstraint]:
    """Each line once: shipped from one node or unfilled (u, after x and y); x <= y."""
    n_x, n_y, n_l = v.sizes
    ar = np.arange
    a_assign = sp.csr_matrix((np.ones(n_x + n_l), (np.concatenate([v.x_line, ar(n_l)]),
                              np.concatenate([ar(n_x), n_x + n_y + ar(n_l)]))), shape=(n_l, n))  # fmt: skip
    y_of_x = np.array([v.y_key[(v.order_of[r], i)] for r, i in zip(v.x_line, v.x_node, strict=True)],
                      int)  # fmt: skip
    a_link = sp.csr_matrix((np.concatenate([np.ones(n_x), -np.ones(n_x)]),
                            (np.concatenate([ar(n_x), ar(n_x)]),
                             np.concatenate([ar(n_x), n_x + y_of_x]))), shape=(n_x, n))  # fmt: skip
    return [LinearConstraint(a_assign, 1, 1), LinearConstraint(a_link, -np.inf, 0)]


def plans_from(network, orders, v: LineVars, solution: np.ndarray) -> list[Plan]:
    """The plans a MIP solution's x describe."""
    x = solution[: len(v.x_line)] > 0.5
    plans = []
    for k, o in enumerate(orders):
        by_node: dict[int, list[int]] = {}
        for r in np.flatnonzero(x & (v.order_of[v.x_line] == k)):
            by_node.setdefault(int(v.x_node[r]), []).append(v.line_of[v.x_line[r]][1])
        filled = {j for lines in by_node.values() for j in lines}
        shipments = [(i, sorted(lines)) for i, lines in by_node.items()]
        unfilled = [j for j in range(len(o.skus)) if j not in filled]
        plans.append(Plan(shipments, unfilled, plan_cost(network, o, shipments)))
    return plans


def batch_plans(
    network: Network,
    orders: list[Order],
    avail: np.ndarray,
    cap_left: np.ndarray,
    duals: np.ndarray | None = None,
    candidates: int = 6,
    time_limit: float = 30.0,
    penalty: float = PENALTY,
    info: dict | None = None,
) -> list[Plan]:
    """Route ``orders`` together: min shipment costs + unit costs (+ dual prices) + penalty x
    unfilled units, subject to stock ``avail`` and capacity ``cap_left`` per node. Each line may
    use its ``candidates`` cheapest nodes that hold it (a MIP over all nodes is no better in
    practice and far slower). ``info`` (a dict) receives the solver's objective, dual bound and
    gap."""
    lam = duals if duals is not None else np.zeros_like(avail)
    # a line the stock can fill is filled now: leaving it unfilled must cost more than any unit's
    # shipping plus its dual price (the LP prices a unit up to the lost-sale cost itself)
    penalty = max(penalty, float(lam.max(initial=0.0)) + float(network.per_order.max())
                  + float(network.parcel.max()) + float(network.per_unit.max()) + 1.0)  # fmt: skip
    usable = network.ship_from & (cap_left >= 1)
    v = line_variables(network, orders, avail,
                       lambda o: _order_candidates(network, o, avail, usable, lam, candidates), lam)  # fmt: skip
    n_x, n_y, n_l = v.sizes
    if n_l == 0:
        return []
    # variables: x (n_x) | y (n_y) | u (n_l, unfilled)
    c = np.concatenate([v.x_cost, v.y_cost, penalty * v.qty])
    n = n_x + n_y + n_l
    ar = np.arange
    key = v.x_node * avail.shape[1] + v.sku[v.x_line]
    keys, row = np.unique(key, return_inverse=True)
    a_stock = sp.csr_matrix((v.qty[v.x_line], (row, ar(n_x))), shape=(len(keys), n))
    b_stock = avail.reshape(-1)[keys]
    y_node = np.array([i for (_, i) in v.y_key], int)
    nodes_used, yrow = np.unique(y_node, return_inverse=True)
    a_cap = sp.csr_matrix((np.ones(n_y), (yrow, n_x + ar(n_y))), shape=(len(nodes_used), n))
    cons = [
        *assignment_constraints(v, n),
        LinearConstraint(a_stock, -np.inf, b_stock),
        LinearConstraint(a_cap, -np.inf, np.floor(cap_left[nodes_used])),
    ]
    res = milp(c, constraints=cons, integrality=np.ones(n), bounds=Bounds(0, 1),
               options={"time_limit": time_limit, "mip_rel_gap": 1e-4})  # fmt: skip
    if res.x is None:  # nothing feasible found within the limit: route one at a time instead
        log.warning("batch routing MIP: %s; %d orders routed by the dual rule", res.message,
                    len(orders))  # fmt: skip
        if info is not None:
            info.update({"status": int(res.status), "fallback": "dual", "variables": n})
        return _one_by_one(network, orders, avail, cap_left, lam)
    if info is not None:  # what the solver proved: objective, dual bound, gap, status
        info.update({"objective": float(res.fun), "status": int(res.status),
                     "dual_bound": float(getattr(res, "mip_dual_bound", res.fun) or res.fun),
                     "gap": float(getattr(res, "mip_gap", 0.0) or 0.0), "variables": n})  # fmt: skip
    return plans_from(network, orders, v, res.x)


def _one_by_one(network, orders, avail, cap_left, lam) -> list[Plan]:
    """The dual rule over ``orders`` in turn, taking stock and capacity as it goes."""
    stock, used = avail.copy(), np.zeros_like(cap_left, dtype=float)
    plans = []
    for o in orders:
        plan = route_one("dual", network, o, stock, cap_left - used, lam)
        commit(plan, o, stock, used)
        plans.append(plan)
    return plans
