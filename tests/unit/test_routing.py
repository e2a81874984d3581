"""Routing: hand-solved tiny networks, LP duals against brute force, capacity and reserves never
violated (property tests), the simulation's bookkeeping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from src.routing import clairvoyant as CV
from src.routing import duals as D
from src.routing import policies as P
from src.routing import scenario as SC
from src.routing.network import Network, Shipping
from src.routing.simulate import simulate


def tiny(nodes=("DC", "ST1", "ST2"), km=(300.0, 5.0, 50.0), cap=(1e9, 10, 10)) -> Network:
    """Nodes on a line north of one zone at (52, 0); ``km`` from it."""
    lat = [52 + k / 111.2 for k in km]
    types = ["dc"] + ["store"] * (len(nodes) - 1)
    frame = pd.DataFrame({
        "location_id": list(nodes), "type": types, "lat": lat, "lon": 0.0, "ship_from": True,
        "pick_capacity": list(cap), "handling_per_order": [1.0] + [3.0] * (len(nodes) - 1),
        "handling_per_unit": [0.2] + [0.5] * (len(nodes) - 1),
    })  # fmt: skip
    zones = pd.DataFrame({"zone": ["Z"], "lat": [52.0], "lon": [0.0]})
    return Network(frame, zones, Shipping(base=4.0, per_km=0.02, per_unit=0.5, km_per_day=300))


def order(skus, qty=None):
    skus = np.asarray(skus)
    return P.Order("o", 0, skus, np.asarray(qty if qty is not None else [1] * len(skus), float))


def test_costs_and_the_obvious_choices():
    net = tiny()
    assert net.km[:, 0] == pytest.approx([300, 5, 50], rel=1e-3)
    # DC: 1 + 4 + 0.02*300 + (0.2+0.5)*2 = 12.4 ; ST1: 3 + 4 + 0.1 + (0.5+0.5)*2 = 9.1
    assert net.shipment_cost(0, 0, 2) == pytest.approx(12.4, rel=1e-3)
    assert net.shipment_cost(1, 0, 2) == pytest.approx(9.1, rel=1e-3)
    stock = np.array([[5, 5], [5, 5], [5, 5]], float)
    cap = net.capacity.copy()
    o = order([0, 1])
    assert P.route_one("nearest", net, o, stock, cap).shipments == [(1, [0, 1])]
    assert P.route_one("dc_first", net, o, stock, cap).shipments == [(0, [0, 1])]
    # ST1 lacks SKU 1: nearest with everything is ST2; fewest splits too (one parcel)
    stock[1, 1] = 0
    assert P.route_one("nearest", net, o, stock, cap).shipments == [(2, [0, 1])]
    assert P.route_one("fewest_splits", net, o, stock, cap).shipments == [(2, [0, 1])]
    # nobody has SKU 1: it is unfilled, SKU 0 still ships
    stock[:, 1] = 0
    plan = P.route_one("nearest", net, o, stock, cap)
    assert plan.unfilled == [1] and plan.shipments == [(1, [0])]
    # a full store is skipped
    full = cap.copy()
    full[1] = 0
    assert P.route_one("nearest", net, order([0]), stock, full).shipments == [(2, [0])]


def test_dual_rule_saves_a_scarce_unit_for_the_order_that_needs_it():
    """ST1 holds the last unit of A near the zone; the DC has plenty. With a high dual price on
    ST1's A (future orders need it), the dual rule ships from the DC although ST1 is cheaper now."""
    net = tiny()
    stock = np.array([[50.0], [1.0], [0.0]])
    o = order([0])
    lam = np.array([[0.0], [30.0], [0.0]])
    assert P.route_one("nearest", net, o, stock, net.capacity).shipments == [(1, [0])]
    assert P.route_one("dual", net, o, stock, net.capacity, lam).shipments == [(0, [0])]
    assert P.route_one("dual", net, o, stock, net.capacity, lam * 0).shipments == [(1, [0])]


def test_lp_duals_match_brute_force():
    rng = np.random.default_rng(3)
    net = SC.generate(seed=1, n_warehouses=2, n_stores=3, n_zones=4, n_skus=3, days=1).network
    stock = rng.integers(0, 6, (net.n_nodes, 3)).astype(float) + 0.37  # non-degenerate
    demand = rng.uniform(1, 8, (4, 3))
    duals, obj = D.transport_lp(net, stock, demand)
    for i in range(net.n_nodes):
        for s in range(3):
            more = stock.copy()
            more[i, s] += 0.01
            _, obj2 = D.transport_lp(net, more, demand)
            assert duals[i, s] == pytest.approx((obj - obj2) / 0.01, abs=1e-5)
    assert (duals >= 0).all() and duals.max() > 0


def test_batch_mip_solves_a_hand_checked_instance():
    """Two one-line orders, one unit of A at ST1 (cheap), plenty at the DC: the MIP gives ST1's
    unit to one of them and the DC ships the other; ST1's capacity of one parcel is respected."""
    net = tiny(cap=(1e9, 1, 0))
    stock = np.array([[10.0], [1.0], [0.0]])
    orders = [P.Order("a", 0, np.array([0]), np.array([1.0])),
              P.Order("b", 0, np.array([0]), np.array([1.0]))]  # fmt: skip
    info = {}
    plans = P.batch_plans(net, orders, stock, net.capacity.copy(), info=info)
    nodes = sorted(p.shipments[0][0] for p in plans)
    assert nodes == [0, 1]
    expected = net.shipment_cost(0, 0, 1) + net.shipment_cost(1, 0, 1)
    assert sum(p.cost for p in plans) == pytest.approx(expected)
    assert info["objective"] == pytest.approx(expected)


def test_batch_mip_never_splits_for_want_of_a_candidate():
    """Each line's single cheapest node holds only that line; the DC holds both. With one
    candidate per line the DC must still be in the order's set: one parcel (12.4), not two
    (8.1 + 9.0)."""
    net = tiny()
    stock = np.array([[5.0, 5.0], [5.0, 0.0], [0.0, 5.0]])
    plans = P.batch_plans(net, [order([0, 1])], stock, net.capacity.copy(), candidates=1)
    assert plans[0].shipments == [(0, [0, 1])]
    assert plans[0].cost == pytest.approx(net.shipment_cost(0, 0, 2))


def test_batch_mip_without_a_solution_routes_by_the_dual_rule(monkeypatch):
    """A MIP that finds nothing within its time limit must not fail the day's file: the orders
    are routed one at a time by the dual rule, taking stock as they go, and the info says so."""
    from types import SimpleNamespace

    net = tiny()
    stock = np.array([[1.0, 5.0], [1.0, 0.0], [0.0, 5.0]])
    orders = [order([0, 1]), order([0]), order([0])]
    monkeypatch.setattr(P, "milp", lambda *a, **k: SimpleNamespace(
        x=None, status=1, message="Time limit reached", fun=None))  # fmt: skip
    info = {}
    plans = P.batch_plans(net, orders, stock, net.capacity.copy(), info=info)
    assert info["fallback"] == "dual"
    taken = np.zeros_like(stock)
    for p, o in zip(plans, orders, strict=True):
        for i, lines in p.shipments:
            np.add.at(taken[i], o.skus[lines], o.qty[lines])
    assert (taken <= stock).all()  # two units of SKU 0 exist: the third order goes unfilled
    assert [len(p.unfilled) for p in plans] == [0, 0, 1]


def test_store_limits_follow_the_simulated_reserve_rule():
    """S = 10 at a store, walk-ins 2 a day, reserve 6 with 3 days left, 4 with 2, 1 with 1:
    before day k's orders 1, 3, 5 walk-in units are gone -> 10-1-6=3, 10-3-4=3, 10-5-1=4."""
    S = np.array([[10.0], [10.0]])
    walk = np.array([[[0.0], [2.0]]] * 3)  # (days, nodes, skus): node 1 is the store
    reserve = np.array([[0.0], [1.0], [4.0], [6.0]])[:, None, :].repeat(2, axis=1)
    lim = CV.store_limits(S, walk, reserve, np.array([False, True]))
    assert lim[:, 1, 0] == pytest.approx([3.0, 3.0, 4.0])
    assert lim[:, 0, 0] == pytest.approx([10.0, 10.0, 10.0])  # a warehouse: its level
    # the running maximum: a limit that falls again is not binding for what shipped earlier
    reserve[2] = 9.0
    lim = CV.store_limits(S, walk, reserve, np.array([False, True]))
    assert lim[:, 1, 0] == pytest.approx([3.0, 3.0, 4.0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_protected_clairvoyant_bounds_every_simulated_policy(seed):
    """Same stock, reserve rule and capacities: no policy the simulation replays can beat the
    clairvoyant MIP's bound, and with hindsight it does at least as well as the best of them."""
    sc = SC.generate(seed=seed, n_warehouses=1, n_stores=3, n_zones=6, n_skus=15, days=7,
                     orders_per_day=8, walkin_per_store_day=8, store_capacity=2)  # fmt: skip
    rng = np.random.default_rng(seed)
    S = rng.integers(2, 10, (sc.network.n_nodes, 15)).astype(float)
    reserve = np.zeros((8, sc.network.n_nodes, 15))
    reserve[1:] = np.arange(1, 8)[:, None, None] * sc.walkin_rate[None] * 0.5
    ref = CV.protected(sc, S, reserve, time_limit=60)
    assert ref["max_gap"] < 1e-3  # solved: bound and incumbent meet
    costs = []
    for policy in (*P.POLICIES, "batch"):
        r = simulate(sc, policy, S, reserve, batch_minutes=120 if policy == "batch" else None)
        costs.append(r.summary()["cost_per_order"])
    assert min(costs) >= ref["bound_per_order"] - 1e-6
    assert ref["cost_per_order"] <= min(costs) + 1e-6


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), policy=st.sampled_from([*P.POLICIES, "batch"]))
def test_capacity_stock_and_reserves_are_never_violated(seed, policy):
    sc = SC.generate(seed=seed, n_warehouses=1, n_stores=3, n_zones=6, n_skus=12, days=3,
                     orders_per_day=40, walkin_per_store_day=6, store_capacity=3)  # fmt: skip
    rng = np.random.default_rng(seed)
    S = rng.integers(0, 8, (sc.network.n_nodes, 12)).astype(float)
    reserve = np.broadcast_to(rng.integers(0, 3, (1, sc.network.n_nodes, 12)),
                              (8, sc.network.n_nodes, 12)).astype(float)  # fmt: skip
    taken = []

    def watch(fn):
        def wrapped(plan, o, stock, cap_used):
            before = stock.copy()
            fn(plan, o, stock, cap_used)
            taken.append((before, stock.copy(), cap_used.copy()))

        return wrapped

    original = P.commit
    P.commit = watch(original)
    try:
        res = simulate(sc, "batch" if policy == "batch" else policy, S, reserve,
                       batch_minutes=120 if policy == "batch" else None)  # fmt: skip
    finally:
        P.commit = original
    store = sc.network.is_store
    for before, after, cap_used in taken:
        assert (after >= -1e-9).all()  # never more than the stock
        assert (cap_used <= sc.network.capacity + 1e-9).all()  # never beyond a node's capacity
        # an online order never takes a store below its reserve (unless it already was)
        floor = np.minimum(before, reserve[1])
        assert (after[store] >= floor[store] - 1e-9).all()
    assert res.orders == sc.orders["order_id"].nunique()
    assert 0 <= res.walkin_filled <= res.walkin_demand


def test_route_orders_reserves_whole_units(tmp_path):
    """Stock is counted in units, so a store's walk-in reserve is too: the smallest whole number
    covering the policy layer's quantile (a planner reading reserve.csv sees 2, not 1.37)."""
    from src.policy.levels import poisson_levels, whole_units
    from src.routing import batch

    files = batch.write_demo(tmp_path, seed=0)
    reserve = pd.read_csv(files["reserve"])["reserve"].to_numpy()
    assert len(reserve) and (reserve == np.round(reserve)).all() and (reserve >= 1).all()
    level = poisson_levels(np.array([0.05, 0.3, 1.0, 2.2]), 7, 0.95)
    assert (level != np.round(level)).any()  # the quantiles themselves are fractional
    whole = whole_units(level)
    assert (whole >= level - 1e-9).all() and (whole - level < 1).all()
    assert (whole == np.round(whole)).all()
