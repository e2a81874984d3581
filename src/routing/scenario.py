"""A seeded omnichannel network and online order stream (the routing benchmark's world).

* **nodes**: one national DC in the middle, regional warehouses, and stores spread over the
  country with small pick capacities and dearer handling (a store picks by hand);
* **zones**: delivery areas with coordinates and a population weight;
* **demand**: SKUs with skewed popularity; online orders arrive through the day (Poisson per day
  with a weekly rhythm), baskets of 1 + Poisson(0.8) lines, each to a zone drawn by population;
  **walk-in** demand per store x SKU per day (Poisson), which online orders must not starve.

Coordinates are kilometres-plausible latitude / longitude (a UK-sized country), so the shipping
tariff's distance term means what it says.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from src.routing.network import Network, Shipping


@dataclass
class Scenario:
    network: Network
    orders: pd.DataFrame  # order_id, ts, day, zone, sku, qty, line (one row per line)
    walkin: np.ndarray  # (days, nodes, skus) walk-in demand (zero at non-stores)
    online_rate: np.ndarray  # (zones, skus) expected online units per day
    walkin_rate: np.ndarray  # (nodes, skus) expected walk-in units per day
    skus: np.ndarray
    days: int
    start: pd.Timestamp


def generate(
    seed: int = 0,
    n_warehouses: int = 3,
    n_stores: int = 12,
    n_zones: int = 40,
    n_skus: int = 200,
    days: int = 28,
    orders_per_day: float = 300.0,
    walkin_per_store_day: float = 60.0,
    start: str = "2024-03-04",
    shipping: Shipping | None = None,
    store_capacity: float = 25.0,
) -> Scenario:
    rng = np.random.default_rng(seed)
    lat0, lat1, lon0, lon1 = 50.5, 55.5, -4.5, 1.0
    wh = [(52.5, -1.5)] + [(rng.uniform(lat0, lat1), rng.uniform(lon0, lon1))
                          for _ in range(n_warehouses)]  # fmt: skip
    stores = [(rng.uniform(lat0, lat1), rng.uniform(lon0, lon1)) for _ in range(n_stores)]
    types = ["dc"] + ["warehouse"] * n_warehouses + ["store"] * n_stores
    names = ["DC"] + [f"WH{i + 1}" for i in range(n_warehouses)] + [
        f"ST{i + 1:02d}" for i in range(n_stores)]  # fmt: skip
    cap = {"dc": 1e9, "warehouse": orders_per_day * 0.5, "store": store_capacity}
    h_order = {"dc": 1.0, "warehouse": 1.5, "store": 3.5}
    h_unit = {"dc": 0.2, "warehouse": 0.3, "store": 0.8}
    coords = np.array(wh + stores)
    nodes = pd.DataFrame({
        "location_id": names, "type": types, "lat": coords[:, 0], "lon": coords[:, 1],
        "ship_from": True, "pick_capacity": [cap[t] for t in types],
        "handling_per_order": [h_order[t] for t in types],
        "handling_per_unit": [h_unit[t] for t in types],
    })  # fmt: skip
    # zones cluster around the stores (towns) plus some countryside
    town = rng.integers(0, n_stores, n_zones)
    near = rng.random(n_zones) < 0.7
    zlat = np.where(near, coords[1 + n_warehouses + town, 0] + rng.normal(0, 0.15, n_zones),
                    rng.uniform(lat0, lat1, n_zones))  # fmt: skip
    zlon = np.where(near, coords[1 + n_warehouses + town, 1] + rng.normal(0, 0.2, n_zones),
                    rng.uniform(lon0, lon1, n_zones))  # fmt: skip
    zones = pd.DataFrame({"zone": [f"Z{i:02d}" for i in range(n_zones)], "lat": zlat, "lon": zlon})
    weight = rng.lognormal(0, 0.6, n_zones)
    weight /= weight.sum()
    network = Network(nodes, zones, shipping or Shipping())

    pop = rng.lognormal(0, 1.1, n_skus)
    pop /= pop.sum()
    skus = np.array([f"R{i:04d}" for i in range(n_skus)])
    lines_per_order = 1.8
    online_rate = orders_per_day * lines_per_order * weight[:, None] * pop[None, :]
    walkin_rate = np.zeros((len(nodes), n_skus))
    size = rng.uniform(0.6, 1.4, n_stores)
    walkin_rate[1 + n_warehouses :] = walkin_per_store_day * size[:, None] * pop[None, :]
    walkin = rng.poisson(np.broadcast_to(walkin_rate, (days, *walkin_rate.shape)))

    weekly = np.array([1.1, 1.0, 1.0, 1.0, 1.05, 0.9, 0.95])
    t0 = pd.Timestamp(start)
    rows = []
    order_no = 0
    for d in range(days):
        n = rng.poisson(orders_per_day * weekly[(t0 + pd.Timedelta(days=d)).dayofweek])
        seconds = np.sort(rng.integers(0, 86400, n))
        zone = rng.choice(n_zones, n, p=weight)
        k = np.minimum(1 + rng.poisson(lines_per_order - 1, n), n_skus)
        for i in range(n):
            picked = rng.choice(n_skus, k[i], replace=False, p=pop)
            for j, s in enumerate(picked):
                rows.append((f"O{order_no:06d}", t0 + pd.Timedelta(days=d, seconds=int(seconds[i])),
                             d, int(zone[i]), int(s), 1 + int(rng.random() < 0.15), j + 1))  # fmt: skip
            order_no += 1
    orders = pd.DataFrame(rows, columns=["order_id", "ts", "day", "zone", "sku", "qty", "line"])
    return Scenario(network, orders, walkin, online_rate, walkin_rate, skus, days, t0)
