"""``POST /route``: one online order -> the node(s) that ship it, with reservations.

The planner bundle carries a routing snapshot written by ``pipelines.route_orders``
(``routing/``: the network, the shipping tariff, the SKUs, the stock online orders may take —
stores above their walk-in reserve — and the dual prices of that stock). Each request is routed
by the dual-price online rule (:mod:`src.routing.policies`) against the snapshot *minus what
earlier requests reserved*, and its units are reserved in the same SQLite transaction
(``BEGIN IMMEDIATE``: one writer at a time across every worker process), so two concurrent
requests can never both be promised the last unit. Re-sending an order id returns its existing
assignment (retries are safe).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from src.routing import policies as P
from src.routing.snapshot import read_snapshot
from src.serve.errors import ClientError, NotFound

MAX_LINES = 100
SCHEMA = """
CREATE TABLE IF NOT EXISTS reservations (
    order_id TEXT NOT NULL, line INTEGER NOT NULL, node TEXT, sku TEXT NOT NULL,
    qty REAL NOT NULL, shipment INTEGER NOT NULL, cost REAL NOT NULL, delivery_days INTEGER,
    day TEXT NOT NULL, PRIMARY KEY (order_id, line));
CREATE TABLE IF NOT EXISTS reserved (
    node TEXT NOT NULL, sku TEXT NOT NULL, qty REAL NOT NULL, PRIMARY KEY (node, sku));
CREATE TABLE IF NOT EXISTS parcels (
    day TEXT NOT NULL, node TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (day, node));
"""


class RouteBook:
    def __init__(self, folder: str | Path, db: str | Path, policy: str = "dual"):
        snap = read_snapshot(folder)
        self.network = snap.network
        self.skus = {s: i for i, s in enumerate(snap.skus)}
        self.avail, self.duals = snap.avail, snap.duals
        self.names = self.network.nodes["location_id"].astype(str).to_numpy()
        self.types = dict(zip(self.names, self.network.nodes["type"].astype(str), strict=True))
        self.policy = policy
        self.db = Path(db)
        self.db.parent.mkdir(parents=True, exist_ok=True)
        # one connection per process (the service's threads take turns: the database allows
        # one writer at a time anyway); running totals keep each request O(nodes)
        self.con = sqlite3.connect(self.db, timeout=30, isolation_level=None,
                                   check_same_thread=False)  # fmt: skip
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("PRAGMA synchronous=NORMAL")
        self.con.executescript(SCHEMA)
        self.lock = threading.Lock()

    def _check(self, order_id: str, zone: str, lines: Sequence[Mapping]) -> tuple[int, list]:
        if not order_id or len(order_id) > 200:
            raise ClientError("order_id must be 1 to 200 characters", status=422)
        if zone not in self.network.zone_index:
            raise NotFound(f"unknown destination zone {zone!r}")
        if not 1 <= len(lines) <= MAX_LINES:
            raise ClientError(
                f"an order needs 1 to {MAX_LINES} lines, got {len(lines)}", status=422
            )
        unknown = [str(ln["sku"]) for ln in lines if str(ln["sku"]) not in self.skus]
        if unknown:
            raise NotFound(f"unknown SKU(s) {unknown[:10]}: not in the routing snapshot")
        bad = [ln for ln in lines if not (float(ln["qty"]) > 0 and float(ln["qty"]) <= 1e6)]
        if bad:
            raise ClientError(f"qty must be > 0 (and at most 1e6), got {bad[:3]}", status=422)
        return self.network.zone_index[zone], list(lines)

    def route(self, order_id: str, zone: str, lines: Sequence[Mapping], day: str,
              promised_days: int | None = None) -> dict:  # fmt: skip
        z, lines = self._check(order_id, zone, lines)
        skus = [str(ln["sku"]) for ln in lines]
        distinct = sorted(set(skus))
        cols = np.array([self.skus[s] for s in distinct])
        local = {s: k for k, s in enumerate(distinct)}
        order = P.Order(order_id, z, np.array([local[s] for s in skus]),
                        np.array([float(ln["qty"]) for ln in lines]))  # fmt: skip
        with self.lock:
            return self._route(order_id, zone, z, order, skus, distinct, cols, local, day,
                               promised_days)  # fmt: skip

    def _route(self, order_id, zone, z, order, skus, distinct, cols, local, day, promised_days):
        net, con = self.network, self.con
        try:
            con.execute("BEGIN IMMEDIATE")  # one writer at a time: no unit promised twice
            rows = con.execute("SELECT line, node, sku, qty, shipment, cost, delivery_days "
                               "FROM reservations WHERE order_id = ? ORDER BY line",
                               (order_id,)).fetchall()  # fmt: skip
            if rows:
                con.execute("COMMIT")
                return self._answer(order_id, zone, rows, repeated=True)
            marks = ",".join("?" * len(distinct))
            avail = self.avail[:, cols].copy()
            for node, sku, qty in con.execute(
                f"SELECT node, sku, qty FROM reserved WHERE sku IN ({marks})", distinct):  # fmt: skip
                avail[net.node_index[node], local[sku]] -= qty
            cap_left = net.capacity.copy()
            for node, n in con.execute("SELECT node, n FROM parcels WHERE day = ?", (day,)):
                cap_left[net.node_index[node]] -= n
            if promised_days is not None:  # nodes that cannot deliver in time are a last resort
                late = net.days[:, z] > int(promised_days)
                if (~late & (cap_left >= 1)).any():
                    cap_left = np.where(late, 0.0, cap_left)
            plan = P.route_one(self.policy, net, order, np.maximum(avail, 0.0), cap_left,
                               self.duals[:, cols])  # fmt: skip
            out = []
            for n_ship, (i, idx) in enumerate(plan.shipments, 1):
                cost = net.shipment_cost(i, z, float(order.qty[idx].sum()))
                for j in idx:
                    out.append((j + 1, str(self.names[i]), skus[j], float(order.qty[j]), n_ship,
                                cost, int(net.days[i, z])))  # fmt: skip
            for j in plan.unfilled:
                out.append((j + 1, None, skus[j], float(order.qty[j]), 0, 0.0, None))
            con.executemany(
                "INSERT INTO reservations (order_id, line, node, sku, qty, shipment, cost, "
                "delivery_days, day) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(order_id, *r, day) for r in out])  # fmt: skip
            con.executemany(
                "INSERT INTO reserved (node, sku, qty) VALUES (?, ?, ?) "
                "ON CONFLICT (node, sku) DO UPDATE SET qty = qty + excluded.qty",
                [(r[1], r[2], r[3]) for r in out if r[1] is not None])  # fmt: skip
            con.executemany(
                "INSERT INTO parcels (day, node, n) VALUES (?, ?, 1) "
                "ON CONFLICT (day, node) DO UPDATE SET n = n + 1",
                [(day, str(self.names[i])) for i, _ in plan.shipments])  # fmt: skip
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        return self._answer(order_id, zone, sorted(out), repeated=False)

    def _answer(self, order_id, zone, rows, repeated: bool) -> dict:
        shipments: dict[int, dict] = {}
        unfilled = []
        for line, node, sku, qty, n_ship, cost, days in rows:
            if node is None:
                unfilled.append({"line": line, "sku": sku, "qty": qty})
                continue
            s = shipments.setdefault(n_ship, {"location_id": node, "cost": cost,
                                              "delivery_days": days, "lines": []})  # fmt: skip
            s["lines"].append({"line": line, "sku": sku, "qty": qty})
        ships = [shipments[k] for k in sorted(shipments)]
        reason = ("; ".join(f"{self.types[s['location_id']]} {s['location_id']}" for s in ships)
                  or "no node has the units")  # fmt: skip
        return {
            "order_id": order_id, "zone": zone, "shipments": ships, "unfilled": unfilled,
            "cost": float(sum(s["cost"] for s in ships)),
            "delivery_days": max((s["delivery_days"] for s in ships), default=None),
            "reason": f"{self.policy} rule (immediate cost + dual price of the stock used): {reason}",
            "repeated": repeated,
        }  # fmt: skip

    def reserved(self) -> pd.DataFrame:
        with self.lock:
            return pd.read_sql_query("SELECT * FROM reservations", self.con)
