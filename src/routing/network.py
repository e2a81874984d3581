"""The fulfilment network and what a shipment costs.

A **node** is a location that may ship online orders: a DC, a regional warehouse or a store, with
coordinates, a daily pick capacity (orders) and handling costs per order and per unit. A
**destination** is a zone (postcode area) with coordinates. Shipping is distance-based by
default — a per-parcel base, a cost per km and a cost per unit, delivery days from the distance —
or a zone matrix given by config (``cost[node_zone][dest_zone]``). Everything is arrays indexed
by node and zone, so the policies and the solvers price thousands of options at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

NODE_COLUMNS = ["location_id", "type", "lat", "lon", "ship_from", "pick_capacity",
                "handling_per_order", "handling_per_unit"]  # fmt: skip
ZONE_COLUMNS = ["zone", "lat", "lon"]


@dataclass(frozen=True)
class Shipping:
    """Distance-based parcel tariff (``conf/routing``): cost = base + per_km x km + per_unit x
    units; delivery days = 1 + km // km_per_day."""

    base: float = 4.0
    per_km: float = 0.01
    per_unit: float = 0.5
    km_per_day: float = 300.0

    @classmethod
    def from_config(cls, cfg: Mapping) -> Shipping:
        return cls(**{k: float(v) for k, v in cfg.items() if k in cls.__dataclass_fields__})


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(a, float)) for a in (lat1, lon1, lat2, lon2))
    a = (np.sin((lat2 - lat1) / 2) ** 2
         + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2)  # fmt: skip
    return 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


@dataclass
class Network:
    nodes: pd.DataFrame  # NODE_COLUMNS, ship_from nodes only are candidates
    zones: pd.DataFrame  # ZONE_COLUMNS
    shipping: Shipping

    def __post_init__(self):
        missing = [c for c in NODE_COLUMNS if c not in self.nodes]
        if missing:
            raise ValueError(f"network nodes lack columns {missing}; need {NODE_COLUMNS}")
        self.nodes = self.nodes.reset_index(drop=True)
        self.zones = self.zones.reset_index(drop=True)
        self.node_index = {n: i for i, n in enumerate(self.nodes["location_id"])}
        self.zone_index = {z: i for i, z in enumerate(self.zones["zone"])}
        n, z = self.nodes, self.zones
        self.km = haversine_km(n["lat"].to_numpy()[:, None], n["lon"].to_numpy()[:, None],
                               z["lat"].to_numpy()[None, :], z["lon"].to_numpy()[None, :])  # fmt: skip
        s = self.shipping
        self.parcel = s.base + s.per_km * self.km  # (nodes, zones): per shipment
        self.per_unit = s.per_unit + n["handling_per_unit"].to_numpy(float)[:, None]  # (nodes, 1)
        self.per_order = n["handling_per_order"].to_numpy(float)  # (nodes,)
        self.days = 1 + np.floor(self.km / s.km_per_day).astype(int)
        self.ship_from = n["ship_from"].to_numpy(bool)
        self.capacity = n["pick_capacity"].to_numpy(float)
        self.is_store = (n["type"] == "store").to_numpy()

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    def shipment_cost(self, node: int, zone: int, units: float) -> float:
        """What one parcel of ``units`` from ``node`` to ``zone`` costs (handling + shipping)."""
        return float(
            self.per_order[node] + self.parcel[node, zone] + self.per_unit[node, 0] * units
        )
