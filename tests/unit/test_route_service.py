"""POST /route's book: reservations across processes never promise a unit twice; retries are
idempotent; bad orders are 4xx."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest

from src.routing.snapshot import write_snapshot
from src.serve.errors import ClientError, NotFound
from src.serve.routing import RouteBook
from tests.unit.test_routing import tiny


@pytest.fixture
def snapshot(tmp_path):
    net = tiny()  # DC far, ST1 near, ST2 middle
    avail = np.array([[1.0, 50.0], [1.0, 50.0], [1.0, 50.0]])  # three last units of SKU A
    write_snapshot(tmp_path / "snap", net, ["A", "B"], avail, None)
    return tmp_path / "snap", tmp_path / "reservations.db"


def _fire(args):
    folder, db, ids = args
    book = RouteBook(folder, db)
    return [book.route(i, "Z", [{"sku": "A", "qty": 1}], "2024-06-30") for i in ids]


def test_concurrent_requests_never_promise_the_last_units_twice(snapshot):
    folder, db = snapshot
    RouteBook(folder, db)  # creates the table once
    jobs = [(folder, db, [f"o{w}-{k}" for k in range(4)]) for w in range(6)]
    with mp.get_context("spawn").Pool(6) as pool:
        answers = [a for batch in pool.map(_fire, jobs) for a in batch]
    routed = [a for a in answers if a["shipments"]]
    assert len(answers) == 24 and len(routed) == 3  # exactly the three units
    assert all(len(a["unfilled"]) == 1 for a in answers if not a["shipments"])
    res = RouteBook(folder, db).reserved()
    taken = res[res["node"].notna()].groupby(["node", "sku"])["qty"].sum()
    assert (taken <= 1.0).all() and taken.sum() == 3


def test_retries_are_idempotent_and_bad_orders_are_4xx(snapshot):
    book = RouteBook(*snapshot)
    first = book.route("o1", "Z", [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}], "2024-06-30")
    assert first["shipments"] and not first["repeated"] and first["cost"] > 0
    again = book.route("o1", "Z", [{"sku": "A", "qty": 1}], "2024-06-30")
    assert again["repeated"] and again["shipments"] == first["shipments"]
    with pytest.raises(NotFound):
        book.route("o2", "nowhere", [{"sku": "A", "qty": 1}], "2024-06-30")
    with pytest.raises(NotFound):
        book.route("o2", "Z", [{"sku": "nope", "qty": 1}], "2024-06-30")
    with pytest.raises(ClientError):
        book.route("o2", "Z", [{"sku": "A", "qty": 0}], "2024-06-30")
    with pytest.raises(ClientError):
        book.route("o2", "Z", [], "2024-06-30")
    # a promise only the near store can keep steers the order there
    near = book.route("o3", "Z", [{"sku": "B", "qty": 1}], "2024-06-30", promised_days=1)
    assert near["delivery_days"] == 1
