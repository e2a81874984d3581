"""The future cost of depleting a node: dual prices of a transportation LP (HiGHS).

After Acimovic & Graves ("Making better fulfillment decisions on the fly", M&SOM 2015): the
expected online demand of every zone x SKU until the next replenishment is sent to the nodes by a
transportation LP — ship from the cheapest node that will still have the stock — with an expensive
"lost" option; the dual price of node i's inventory of SKU s is what one unit there is worth to
the *future* orders. An online rule that adds these prices to an order's immediate cost keeps the
scarce, well-placed units for the orders that need them most.

One sparse LP for all SKUs (it separates by SKU, HiGHS sees the blocks), solved with scipy's HiGHS.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from src.routing.network import Network


def unit_costs(network: Network, units_per_shipment: float) -> np.ndarray:
    """(nodes, zones) cost per unit when a parcel carries ``units_per_shipment`` units."""
    fixed = network.per_order[:, None] + network.parcel
    return network.per_unit + fixed / max(units_per_shipment, 1.0)


def inventory_duals(
    network: Network,
    stock: np.ndarray,
    demand: np.ndarray,
    units_per_shipment: float = 2.0,
    lost_cost: float = 25.0,
) -> np.ndarray:
    """Dual price (>= 0) of one unit of stock at each node x SKU: ``stock (nodes, skus)`` available
    to online orders, ``demand (zones, skus)`` expected online units until replenishment."""
    return transport_lp(network, stock, demand, units_per_shipment, lost_cost)[0]


def transport_lp(
    network: Network,
    stock: np.ndarray,
    demand: np.ndarray,
    units_per_shipment: float = 2.0,
    lost_cost: float = 25.0,
) -> tuple[np.ndarray, float]:
    """The transportation LP's inventory duals ``(nodes, skus)`` and its optimal cost."""
    n_nodes, n_skus = stock.shape
    n_zones = demand.shape[0]
    cost = unit_costs(network, units_per_shipment)  # (nodes, zones)
    cost = np.where(network.ship_from[:, None], cost, np.inf)
    # variables: x[s, i, z] for nodes with stock of s, then u[s, z] (lost)
    s_idx, i_idx = np.nonzero(stock.T > 0)  # (sku, node) pairs with stock
    pair = np.repeat(np.arange(len(s_idx)), n_zones)
    z_idx = np.tile(np.arange(n_zones), len(s_idx))
    xs, xi = s_idx[pair], i_idx[pair]
    keep = np.isfinite(cost[xi, z_idx]) & (demand[z_idx, xs] > 0)
    xs, xi, xz, pair = xs[keep], xi[keep], z_idx[keep], pair[keep]
    n_x = len(xs)
    dz, ds = np.nonzero(demand.T > 0)  # (sku, zone) with demand -> ds: zone, dz: sku
    d_row = {(int(s), int(z)): r for r, (s, z) in enumerate(zip(dz, ds, strict=True))}
    n_d = len(dz)
    c = np.concatenate([cost[xi, xz], np.full(n_d, lost_cost)])
    rows_eq = np.array([d_row[(int(s), int(z))] for s, z in zip(xs, xz, strict=True)], dtype=int)
    a_eq = sp.csr_matrix(
        (np.ones(n_x + n_d), (np.concatenate([rows_eq, np.arange(n_d)]),
                              np.arange(n_x + n_d))), shape=(n_d, n_x + n_d))  # fmt: skip
    b_eq = demand.T[dz, ds]
    a_ub = sp.csr_matrix((np.ones(n_x), (pair, np.arange(n_x))), shape=(len(s_idx), n_x + n_d))
    b_ub = stock.T[s_idx, i_idx]
    res = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=(0, None),
                  method="highs")  # fmt: skip
    if res.status != 0:
        raise RuntimeError(f"transportation LP failed: {res.message}")
    duals = np.zeros((n_nodes, n_skus))
    duals[i_idx, s_idx] = -res.ineqlin.marginals  # <= rows of a min problem: marginals <= 0
    return np.maximum(duals, 0.0), float(res.fun)
