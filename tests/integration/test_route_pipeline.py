"""A brand's network by config: a locations file at ingest (with a DC that never sells), then
`python -m pipelines.route_orders` on its zones and a day's orders, bad rows reported."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pipelines import ingest, route_orders
from src.features import columns as C
from src.features.tables import read_tables
from tests.helpers import GENERIC_COLUMNS, tmp_paths
from tests.helpers import compose as cfg

pytestmark = pytest.mark.integration


def test_locations_file_then_route_a_days_orders(tmp_path, write_csv, good_rows):
    sales = write_csv(good_rows, "sales.csv")
    locations = write_csv({
        "Site": ["s1", "s2", "DC1", "bad", "s1"],
        "Kind": ["store", "store", "dc", "castle", "store"],
        "Lat": ["52.0", "52.5", "52.2", "50", "52"],
        "Lon": ["-1.0", "-1.6", "-1.3", "0", "0"],
        "Ships": ["yes", "no", "yes", "yes", "yes"],
        "Picks": ["30", "30", "5000", "1", "1"],
    }, "sites.csv")  # fmt: skip
    stock = write_csv({"Site": ["s1", "s1", "DC1", "DC1", "s2"], "Item": ["A", "B", "A", "B", "A"],
                       "Units": ["2", "0", "50", "50", "9"]}, "stock.csv")  # fmt: skip
    paths = tmp_paths(tmp_path)
    cols = [f"data.columns.{k}={v}" for k, v in GENERIC_COLUMNS.items()]
    loc_cols = ["location_id=Site", "type=Kind", "lat=Lat", "lon=Lon", "ship_from=Ships",
                "pick_capacity=Picks"]  # fmt: skip
    ingest.run(cfg("ingest", [
        "data=generic", f"data.path={sales}", *cols, f"data.locations.path={locations}",
        *[f"data.locations.columns.{c}" for c in loc_cols],
        f"data.inventory.path={stock}", "data.inventory.columns.location_id=Site",
        "data.inventory.columns.sku=Item", "data.inventory.columns.on_hand=Units",
        "data.inventory.as_of=2024-01-06", "ingest.max_reject_fraction=0.9", *paths]))  # fmt: skip
    t = read_tables(tmp_path / "tables")
    loc = t.locations.set_index(C.LOCATION_ID)
    assert loc.loc["DC1", C.LOCATION_TYPE] == "dc" and loc.loc["DC1", C.PICK_CAPACITY] == 5000
    assert loc.loc["s2", C.SHIP_FROM] == False  # noqa: E712 (nullable boolean)
    assert "bad" not in loc.index  # unknown type, reported
    rejects = pd.read_csv(tmp_path / "tables" / "rejects.csv")
    mine = rejects[rejects[C.REJECT_FILE].str.endswith("sites.csv")]
    assert dict(zip(mine[C.REJECT_ROW], mine[C.REJECT_RULE], strict=True)) == {
        3: "unknown_type", 4: "duplicate_location"}  # fmt: skip

    zones = write_csv({"zone": ["N", "S"], "lat": ["52.1", "52.4"], "lon": ["-1.1", "-1.5"]},
                      "zones.csv")  # fmt: skip
    orders = write_csv({"order_id": ["w1", "w1", "w2", "w3", "w4"],
                        "zone": ["N", "N", "S", "S", "Mars"], "sku": ["A", "B", "A", "Z", "A"],
                        "qty": ["1", "1", "1", "1", "1"]}, "orders.csv")  # fmt: skip
    summary = route_orders.run(cfg("route_orders", [
        *paths, f"routing.network.zones.path={zones}", f"routing.orders.path={orders}",
        "routing.reserve.days=1"]))  # fmt: skip
    out = tmp_path / "tables" / "routing"
    a = pd.read_csv(out / "assignments.csv")
    assert summary["orders"] == 2 and summary["rejected_rows"] == 2  # w3: unknown SKU, w4: zone
    assert set(a["order_id"]) == {"w1", "w2"}
    # s2 does not ship online; s1 has no B: w1 goes to the DC whole or splits with s1's A
    assert "s2" not in set(a[C.LOCATION_ID].dropna())
    assert set(a.loc[a["order_id"] == "w1", C.LOCATION_ID]) <= {"DC1", "s1"}
    rej = pd.read_csv(out / "rejects.csv")
    assert set(rej[C.REJECT_RULE]) == {"unknown_sku", "unknown_zone"}
    assert json.loads((out / "summary.json").read_text())["policy"] == "batch"
