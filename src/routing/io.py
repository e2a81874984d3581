"""A brand's network, stock and online orders from its own files, by configuration.

``conf/routing/default.yaml`` maps each file's columns (like the transactions adapter): nodes
(``location_id, type, lat, lon`` required; ``ship_from, pick_capacity, handling_per_order,
handling_per_unit`` optional with defaults), zones (``zone, lat, lon``) and the orders to route
(``order_id, sku, qty, zone`` required; ``line, ts`` optional). Bad rows are reported — file,
row, column, rule, value — never silently dropped; a file that misses a mapped column stops with
its name.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from src.features import columns as C
from src.features.locations import parse_flags
from src.features.validation import DataValidationError, Rejects, read_table
from src.routing.network import NODE_COLUMNS, Network, Shipping

log = logging.getLogger(__name__)
NODE_REQUIRED = ("location_id", "type", "lat", "lon")
ORDER_REQUIRED = ("order_id", "sku", "qty", "zone")


def _mapped(path: str | Path, columns: Mapping, required, what: str) -> pd.DataFrame:
    cols = {k: v for k, v in dict(columns or {}).items() if v}
    missing = [c for c in required if c not in cols]
    if missing:
        raise ValueError(f"routing {what}: no column mapped for {missing} (routing.{what}.columns)")
    raw = read_table(Path(path))
    absent = [v for k, v in cols.items() if v not in raw.columns and k in required]
    if absent:
        raise DataValidationError(str(path), "columns", f"mapped columns {absent} not in the file",
                                  examples=raw.head(3))  # fmt: skip
    optional = [f"{k}={v}" for k, v in cols.items() if v not in raw.columns]
    if optional:
        log.warning("%s: optional columns %s not in the file: defaults used", path, optional)
    cols = {k: v for k, v in cols.items() if v in raw.columns}
    return raw[list(cols.values())].rename(columns={v: k for k, v in cols.items()})


def number(frame, col, file, rejects: Rejects, rule="non_numeric") -> pd.Series:
    value = pd.to_numeric(frame[col], errors="coerce")
    bad = value.isna() & frame[col].notna()
    if bad.any():
        rejects.add(file, np.flatnonzero(bad.to_numpy()), col, rule, frame.loc[bad, col])
    return value


def load_network(cfg: Mapping, rejects: Rejects) -> Network:
    n_cfg = cfg["network"]["nodes"]
    nodes = _mapped(n_cfg["path"], n_cfg["columns"], NODE_REQUIRED, "network.nodes")
    file = str(n_cfg["path"])
    rejects.counts_in[file] = len(nodes)
    defaults = dict(n_cfg.get("defaults") or {})
    for col in NODE_COLUMNS:
        if col not in nodes:
            nodes[col] = defaults.get(col)
    for col in ("lat", "lon", "pick_capacity", "handling_per_order", "handling_per_unit"):
        nodes[col] = number(nodes, col, file, rejects)
    nodes["ship_from"] = parse_flags(nodes["ship_from"]).fillna(False).to_numpy(bool)
    nodes["type"] = nodes["type"].astype(str).str.strip().str.lower()
    nodes = _complete(nodes, NODE_COLUMNS, "location_id", file, rejects)
    return Network(nodes, load_zones(cfg, rejects), Shipping.from_config(cfg["shipping"]))


def nodes_from_locations(locations: pd.DataFrame, defaults: Mapping) -> pd.DataFrame:
    """Network nodes from the canonical ``locations`` table: the locations with coordinates;
    missing routing attributes take ``defaults`` (``conf/routing``: network.nodes.defaults)."""
    loc = locations[locations[C.LAT].notna() & locations[C.LON].notna()].copy()
    nodes = pd.DataFrame({"location_id": loc[C.LOCATION_ID].astype(str).to_numpy(),
                          "type": loc[C.LOCATION_TYPE].astype(str).str.lower().to_numpy(),
                          "lat": loc[C.LAT].to_numpy(float), "lon": loc[C.LON].to_numpy(float)})  # fmt: skip
    for col in ("ship_from", "pick_capacity", "handling_per_order", "handling_per_unit"):
        values = loc[col].astype(object).where(loc[col].notna(), defaults.get(col))
        nodes[col] = values.to_numpy()
    nodes["ship_from"] = parse_flags(nodes["ship_from"]).fillna(False).to_numpy(bool)
    for col in ("pick_capacity", "handling_per_order", "handling_per_unit"):
        nodes[col] = pd.to_numeric(nodes[col])
    return nodes


def load_zones(cfg: Mapping, rejects: Rejects) -> pd.DataFrame:
    z_cfg = cfg["network"]["zones"]
    zones = _mapped(z_cfg["path"], z_cfg["columns"], ("zone", "lat", "lon"), "network.zones")
    zfile = str(z_cfg["path"])
    rejects.counts_in[zfile] = len(zones)
    for col in ("lat", "lon"):
        zones[col] = number(zones, col, zfile, rejects)
    return _complete(zones, ["zone", "lat", "lon"], "zone", zfile, rejects)


def _complete(frame, columns, key, file, rejects: Rejects) -> pd.DataFrame:
    """Rows with every column and a unique ``key``; the others reported, none left: an error."""
    bad = frame[list(columns)].isna().any(axis=1) | frame[key].duplicated()
    if bad.any():
        rejects.add(file, np.flatnonzero(bad.to_numpy()), key, "incomplete_or_duplicate",
                    frame.loc[bad, key])  # fmt: skip
    frame = frame[~bad].astype({key: str})
    if frame.empty:
        raise DataValidationError(file, "non_empty", f"no valid {key} left")
    return frame


def load_orders(cfg: Mapping, network: Network, skus: pd.Index, rejects: Rejects) -> pd.DataFrame:
    """Order lines with ``zone`` and ``sku`` as indices into the network and ``skus``."""
    o_cfg = cfg["orders"]
    file = str(o_cfg["path"])
    raw = _mapped(file, o_cfg["columns"], ORDER_REQUIRED, "orders")
    rejects.counts_in[file] = len(raw)
    out = raw.copy()
    out["order_id"] = out["order_id"].astype("string").str.strip()
    out["sku"] = out["sku"].astype("string").str.strip()
    out["zone"] = out["zone"].astype("string").str.strip()
    qty = number(out, "qty", file, rejects)
    checks = [
        (out["order_id"].isna() | (out["order_id"] == ""), "order_id", "missing_order_id"),
        (qty.notna() & (qty <= 0), "qty", "non_positive_qty"),
        (~out["zone"].isin(list(network.zone_index)), "zone", "unknown_zone"),
        (~out["sku"].isin(list(skus)), "sku", "unknown_sku"),
    ]
    bad = qty.isna().to_numpy().copy()
    for mask, col, rule in checks:
        mask = mask.fillna(True).to_numpy() & ~bad
        if mask.any():
            rejects.add(file, np.flatnonzero(mask), o_cfg["columns"][col], rule, raw.loc[mask, col])
            bad |= mask
    out["qty"] = qty
    out = out[~bad].copy()
    out["zone_i"] = out["zone"].map(network.zone_index).astype(int)
    out["sku_i"] = pd.Index(skus).get_indexer(out["sku"])
    if "line" not in out:
        out["line"] = out.groupby("order_id").cumcount() + 1
    if "ts" in out:
        out["ts"] = pd.to_datetime(out["ts"], errors="coerce")
        out = out.sort_values(["ts", "order_id", "line"], kind="stable")
    return out.reset_index(drop=True)


def stock_matrix(inventory: pd.DataFrame, network: Network) -> tuple[np.ndarray, pd.Index]:
    """On hand per node x SKU from the latest snapshot of each location x SKU."""
    inv = inventory.astype({C.LOCATION_ID: str, C.SKU: str})
    inv = inv[inv[C.LOCATION_ID].isin(list(network.node_index))]
    latest = inv.sort_values(C.AS_OF).groupby([C.LOCATION_ID, C.SKU], as_index=False).last()
    skus = pd.Index(sorted(latest[C.SKU].unique()))
    stock = np.zeros((network.n_nodes, len(skus)))
    stock[latest[C.LOCATION_ID].map(network.node_index).to_numpy(int),
          skus.get_indexer(latest[C.SKU])] = latest[C.ON_HAND].clip(lower=0).to_numpy(float)  # fmt: skip
    return stock, skus
