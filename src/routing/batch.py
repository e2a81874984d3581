"""Batch routing of a day's online orders (``make route-orders``): the network (mapped files,
the canonical locations, or the seeded demo world), stock above the stores' walk-in reserve,
the dual prices of that stock, and the batch MIP (or a configured online rule) — written as the
outputs ``routing_assignments`` and ``routing_summary`` and the ``routing_snapshot`` that
``POST /route`` serves from (src/outputs). Moved here from ``pipelines/route_orders.py``: the
entry point composes, the domain lives in its package.

Stock comes from the canonical inventory (latest snapshot per location x SKU) or
``routing.stock.path``; a store ships online only above its walk-in reserve — the policy layer's
walk-in demand quantile over ``routing.reserve.days`` at ``routing.reserve.service_level``, from
the store's walk-in sales of the last ``history_days`` (or ``routing.reserve.path``).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from src import outputs
from src.features import columns as C
from src.features import tables as TB
from src.features.validation import Rejects, read_table
from src.outputs.csv import to_csv
from src.policy.levels import poisson_levels, whole_units
from src.routing import duals as D
from src.routing import io
from src.routing import policies as P
from src.routing import scenario as SC
from src.routing.network import Network, Shipping
from src.routing.snapshot import write_snapshot

log = logging.getLogger(__name__)


def write_demo(folder: Path, seed: int) -> dict:
    """The seeded network's files (nodes, zones, stock, reserves, one day of orders) as a brand
    would export them — what `make route-orders` routes when no network is mapped."""
    folder.mkdir(parents=True, exist_ok=True)
    sc = SC.generate(seed=seed, days=1)
    net = sc.network
    to_csv(net.nodes, folder / "nodes.csv")
    to_csv(net.zones, folder / "zones.csv")
    rng = np.random.default_rng(seed)
    demand = sc.online_rate.sum(axis=0)[None, :] * 0.5 + sc.walkin_rate
    on_hand = rng.poisson(demand * 7)
    nz = np.indices(on_hand.shape).reshape(2, -1)  # every node x SKU, zero stock included
    to_csv(pd.DataFrame({C.LOCATION_ID: net.nodes["location_id"].to_numpy()[nz[0]],
                         C.SKU: sc.skus[nz[1]], C.AS_OF: sc.start - pd.Timedelta(days=1),
                         C.ON_HAND: on_hand.reshape(-1).astype(float), C.ON_ORDER: 0.0}),
           folder / "stock.csv")  # fmt: skip
    reserve = whole_units(poisson_levels(sc.walkin_rate.reshape(-1), 7, 0.95)).reshape(
        sc.walkin_rate.shape)  # fmt: skip
    keep = reserve > 0
    idx = np.nonzero(keep)
    to_csv(pd.DataFrame({C.LOCATION_ID: net.nodes["location_id"].to_numpy()[idx[0]],
                         C.SKU: sc.skus[idx[1]], "reserve": reserve[keep]}),
           folder / "reserve.csv")  # fmt: skip
    o = sc.orders.assign(sku=sc.skus[sc.orders["sku"]],
                         zone=net.zones["zone"].to_numpy()[sc.orders["zone"]])  # fmt: skip
    to_csv(o[["order_id", "line", "ts", "zone", "sku", "qty"]], folder / "orders.csv")
    return {"nodes": folder / "nodes.csv", "zones": folder / "zones.csv",
            "orders": folder / "orders.csv", "stock": folder / "stock.csv",
            "reserve": folder / "reserve.csv"}  # fmt: skip


def _reserve(cfg: Mapping, network, skus: pd.Index, tables: str) -> np.ndarray:
    out = np.zeros((network.n_nodes, len(skus)))
    r_cfg = cfg["reserve"]
    if r_cfg.get("path"):
        r = read_table(Path(r_cfg["path"])).astype({C.LOCATION_ID: str, C.SKU: str})
        r = r[r[C.LOCATION_ID].isin(list(network.node_index)) & r[C.SKU].isin(list(skus))]
        out[r[C.LOCATION_ID].map(network.node_index).to_numpy(int),
            skus.get_indexer(r[C.SKU])] = pd.to_numeric(r["reserve"]).to_numpy(float)  # fmt: skip
    else:  # walk-in sales of the last history_days at each store
        tx = TB.read_table(tables, "transactions", [C.TS, C.LOCATION_ID, C.SKU, C.QTY, C.LINE_TYPE])
        since = tx[C.TS].max() - pd.Timedelta(days=int(r_cfg["history_days"]))
        stores = set(network.nodes.loc[network.is_store, "location_id"])
        w = tx[(tx[C.TS] > since) & (tx[C.LINE_TYPE] == C.LINE_SALE)
               & tx[C.LOCATION_ID].astype(str).isin(stores) & tx[C.SKU].astype(str).isin(list(skus))]  # fmt: skip
        rate = w.groupby([w[C.LOCATION_ID].astype(str), w[C.SKU].astype(str)])[C.QTY].sum()
        rate = rate / float(r_cfg["history_days"])
        level = whole_units(poisson_levels(rate.to_numpy(), int(r_cfg["days"]),
                                           float(r_cfg["service_level"])))  # fmt: skip
        loc, sku = rate.index.get_level_values(0), rate.index.get_level_values(1)
        out[loc.map(network.node_index).to_numpy(int), skus.get_indexer(sku)] = level
    out[~network.is_store] = 0.0  # only stores keep a walk-in reserve
    return out


def route_orders(config: Mapping) -> dict:
    """Route the mapped (or demo) order file in batch; writes the routing outputs."""
    cfg, paths = config["routing"], config["paths"]
    t0 = time.perf_counter()
    out_dir = Path(paths["routing"])
    out_dir.mkdir(parents=True, exist_ok=True)
    rejects = Rejects()
    nodes = None
    if not cfg["network"]["nodes"].get("path") and cfg["orders"].get("path"):
        # the canonical locations, where the ingest mapped their coordinates (data.locations)
        nodes = io.nodes_from_locations(TB.read_table(paths["tables"], "locations"),
                                        cfg["network"]["nodes"]["defaults"])  # fmt: skip
        if nodes.empty:
            raise ValueError(f"{paths['tables']}: no location has coordinates; map them with "
                             "data.locations at ingest, or give routing.network.nodes.path")  # fmt: skip
        log.info("network: %d canonical locations with coordinates", len(nodes))
    elif not cfg["network"]["nodes"].get("path"):
        files = write_demo(out_dir / "demo", int(cfg["demo_seed"]))
        log.info("no network mapped (routing.network.nodes.path): routing the seeded demo world "
                 "in %s", files["nodes"].parent)  # fmt: skip
        cfg = copy.deepcopy(cfg)
        cfg["network"]["nodes"]["path"], cfg["network"]["zones"]["path"] = (
            files["nodes"],
            files["zones"],
        )
        cfg["orders"]["path"], cfg["stock"]["path"] = files["orders"], files["stock"]
        cfg["reserve"]["path"] = files["reserve"]
    if nodes is not None:
        network = Network(nodes, io.load_zones(cfg, rejects), Shipping.from_config(cfg["shipping"]))
    else:
        network = io.load_network(cfg, rejects)
    if cfg["stock"].get("path"):
        file = str(cfg["stock"]["path"])
        inv = read_table(Path(file))
        rejects.counts_in[file] = len(inv)
        inv[C.ON_HAND] = io.number(inv, C.ON_HAND, file, rejects)
        inv = inv[inv[C.ON_HAND].notna()]
    else:
        inv = TB.read_table(paths["tables"], "inventory")
    inv[C.AS_OF] = pd.to_datetime(inv[C.AS_OF])
    stock, skus = io.stock_matrix(inv, network)
    orders = io.load_orders(cfg, network, skus, rejects)
    reserve = _reserve(cfg, network, skus, paths["tables"])
    avail = stock.copy()
    avail[network.is_store] = np.maximum(stock[network.is_store] - reserve[network.is_store], 0)
    batch = [P.Order(str(k), int(g["zone_i"].iat[0]), g["sku_i"].to_numpy(int),
                     g["qty"].to_numpy(float)) for k, g in orders.groupby("order_id", sort=False)]  # fmt: skip
    expected = np.zeros((len(network.zones), len(skus)))
    np.add.at(expected, (orders["zone_i"].to_numpy(), orders["sku_i"].to_numpy()),
              orders["qty"].to_numpy(float) * float(cfg["duals"]["horizon_days"]))  # fmt: skip
    lam = D.inventory_duals(network, avail, expected) if cfg["duals"]["enabled"] else None
    policy = cfg["policy"]
    cap_used = np.zeros(network.n_nodes)
    if policy == "batch":
        info: dict = {}
        plans = P.batch_plans(network, batch, avail, network.capacity.copy(), lam,
                              candidates=int(cfg["batch"]["candidates"]),
                              time_limit=float(cfg["batch"]["time_limit_s"]), info=info)  # fmt: skip
        for o, plan in zip(batch, plans, strict=True):
            P.commit(plan, o, avail, cap_used)
        if info.get("fallback"):  # the MIP found nothing in time: the dual rule routed the file
            policy = "dual (batch MIP found no solution in time)"
    else:
        plans = []
        for o in batch:
            plan = P.route_one(policy, network, o, avail, network.capacity - cap_used, lam)
            P.commit(plan, o, avail, cap_used)
            plans.append(plan)
    rows = []
    names = network.nodes["location_id"].to_numpy()
    for o, plan in zip(batch, plans, strict=True):
        for n_ship, (i, lines) in enumerate(plan.shipments, 1):
            cost = network.shipment_cost(i, o.zone, float(o.qty[lines].sum()))
            for j in lines:
                rows.append({"order_id": o.order_id, "line": j + 1, C.SKU: skus[o.skus[j]],
                             "qty": o.qty[j], C.LOCATION_ID: names[i], "shipment": n_ship,
                             "shipment_cost": cost, "delivery_days": int(network.days[i, o.zone]),
                             "status": "routed",
                             "reason": f"{policy}: {network.nodes['type'].iat[i]} {names[i]}, "
                                       f"{network.km[i, o.zone]:.0f} km"})  # fmt: skip
        for j in plan.unfilled:
            rows.append({"order_id": o.order_id, "line": j + 1, C.SKU: skus[o.skus[j]],
                         "qty": o.qty[j], C.LOCATION_ID: None, "shipment": 0, "shipment_cost": 0.0,
                         "delivery_days": None, "status": "unfilled",
                         "reason": "no node has the units above its reserve"})  # fmt: skip
    # what is left for the orders that arrive through POST /route (the planner service)
    write_snapshot(outputs.path(paths, "routing_snapshot"), network, skus, avail, lam)
    assignments = pd.DataFrame(rows)
    outputs.write(paths, "routing_assignments", assignments)
    outputs.write(paths, "routing_rejects", rejects.to_frame())
    summary = {
        "policy": policy, "orders": len(batch), "lines": int(len(orders)),
        "rejected_rows": int(len(rejects.to_frame())),
        "shipments": int(sum(len(p.shipments) for p in plans)),
        "cost": float(sum(p.cost for p in plans)),
        "unfilled_lines": int(sum(len(p.unfilled) for p in plans)),
        "orders_from_stores": int(sum(any(network.is_store[i] for i, _ in p.shipments) for p in plans)),
        "seconds": time.perf_counter() - t0,
    }  # fmt: skip
    summary["cost_per_order"] = summary["cost"] / max(summary["orders"], 1)
    outputs.write_json(paths, "routing_summary", summary)
    log.info("routed %d orders (%d lines, %d rejected rows) with %s: %d shipments, cost %.2f per "
             "order, %d lines unfilled, %.1f s -> %s", summary["orders"], summary["lines"],
             summary["rejected_rows"], policy, summary["shipments"], summary["cost_per_order"],
             summary["unfilled_lines"], summary["seconds"], out_dir)  # fmt: skip
    return summary
