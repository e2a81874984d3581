"""Generic, synthetic and M5 adapters; products; atomic table writes."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from src.features import columns as C
from src.features.adapters import generic, m5, synthetic
from src.features.catalog import build_products, non_merchandise_kind, product_type
from src.features.ingest import IngestOptions, write_ingest
from src.features.tables import read_tables
from src.features.validation import DataValidationError
from tests.helpers import GENERIC_COLUMNS

# --- generic ----------------------------------------------------------------------------------


def test_generic_revenue_gives_unit_price_and_defaults_apply(write_csv, good_rows):
    result = generic.load(write_csv(good_rows), GENERIC_COLUMNS)
    tx = result.tables.transactions.set_index([C.ORDER_ID, C.LINE])
    assert tx.loc[("o1", 2), C.UNIT_PRICE] == pytest.approx(4.5)  # 9.0 / 2 units
    assert tx.loc[("o1", 1), C.CHANNEL] == "unknown"  # documented default
    assert not tx[C.PROMO].any()
    assert pd.isna(tx.loc[("o4", 1), C.CUSTOMER_ID])  # empty customer = anonymous
    assert tx[C.SOURCE].eq("generic").all()


def test_generic_unit_price_mapping_ts_format_and_optional_columns(write_csv):
    rows = {
        "id": ["1", "1", "2"],
        "sku": ["X", "Y", "X"],
        "date": ["02/01/2024 10:00", "02/01/2024 10:00", "13/01/2024 08:00"],
        "n": ["2", "1", "-1"],
        "price": ["3.5", "10", "3.5"],
        "chan": ["app", "web", "app"],
        "on_promo": ["yes", "no", "0"],
        "cat": ["toys", "home", "toys"],
    }
    cols = {
        "order_id": "id",
        "sku": "sku",
        "ts": "date",
        "qty": "n",
        "unit_price": "price",
        "channel": "chan",
        "promo": "on_promo",
        "category": "cat",
    }
    result = generic.load(
        write_csv(rows), cols, ts_format="%d/%m/%Y %H:%M", default_values={"location_id": "shop_9"}
    )
    tx = result.tables.transactions
    assert tx[C.TS].tolist() == [pd.Timestamp("2024-01-02 10:00")] * 2 + [
        pd.Timestamp("2024-01-13 08:00")
    ]
    assert tx[C.PROMO].tolist() == [True, False, False]
    assert tx[C.CHANNEL].tolist() == ["app", "web", "app"]
    assert tx[C.LOCATION_ID].eq("shop_9").all()
    assert tx[C.LINE_TYPE].tolist() == [C.LINE_SALE, C.LINE_SALE, C.LINE_RETURN]
    assert result.tables.products.set_index(C.SKU).loc["X", C.CATEGORY] == "toys"


def test_generic_mapping_needs_a_price():
    with pytest.raises(ValueError, match="either 'unit_price' or 'revenue'"):
        generic.source("x.csv", {"order_id": "a", "sku": "b", "ts": "c", "qty": "d"})


def test_generic_unknown_canonical_name_is_refused():
    with pytest.raises(ValueError, match="unknown canonical column"):
        generic.source(
            "x.csv",
            {"order_id": "a", "sku": "b", "ts": "c", "qty": "d", "revenue": "e", "colour": "f"},
        )


def test_failed_ingest_leaves_existing_output_intact(tmp_path, write_csv, good_rows):
    out = tmp_path / "out"
    first = generic.load(write_csv(good_rows), GENERIC_COLUMNS)
    write_ingest(first, out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    bad = dict(good_rows, When=["garbage"] * 5)
    with pytest.raises(DataValidationError):
        write_ingest(generic.load(write_csv(bad, "bad.csv"), GENERIC_COLUMNS), out)
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert before == after
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_written_tables_read_back_with_contract_columns(tmp_path, write_csv, good_rows):
    write_ingest(generic.load(write_csv(good_rows), GENERIC_COLUMNS), tmp_path / "t")
    tables = read_tables(tmp_path / "t")
    for name, columns in C.TABLES.items():
        assert list(getattr(tables, name).columns) == columns, name
    report = json.loads((tmp_path / "t" / "ingest_report.json").read_text())
    assert report["summary"]["lines"] == 5
    assert (tmp_path / "t" / "rejects.csv").exists()


# --- products ---------------------------------------------------------------------------------


def test_non_merchandise_rules_are_full_matches():
    kinds = non_merchandise_kind(
        pd.Series(["POST", "D", "DCGS0003", "gift_0001_10", "m", "85123A"]),
        {"POST": "postage", "D": "discount", "gift_\\d+_\\d+": "voucher", "M": "adjustment"},
    )
    assert kinds.tolist()[:2] == ["postage", "discount"]
    assert pd.isna(kinds.iat[2]) and pd.isna(kinds.iat[5])  # DCGS… is a real product
    assert kinds.iat[3] == "voucher" and kinds.iat[4] == "adjustment"


def test_product_type_from_name():
    names = pd.Series(
        [
            "WHITE HANGING HEART T-LIGHT HOLDER",
            "PACK OF 72 RETROSPOT CAKE CASES",
            "JUMBO BAG PINK POLKADOT",
        ]
    )
    assert product_type(names).tolist() == ["HOLDER", "CASE", "BAG"]


def test_products_take_the_most_frequent_name():
    lines = pd.DataFrame(
        {C.SKU: ["A", "A", "A", "B"], C.NAME: ["mug red", "mug red", "MUG", "box"]}
    )
    p = build_products(lines, non_merchandise={}, min_skus_per_category=1).set_index(C.SKU)
    assert p.loc["A", C.NAME] == "mug red"
    assert p.loc["A", C.CATEGORY] == "MUG"  # the colour word at the end is not the product type
    assert p[C.IS_MERCHANDISE].all()


# --- synthetic --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synth():
    return synthetic.generate(seed=5, n_people=800, days=180)


def test_generator_is_seeded(synth):
    again = synthetic.generate(seed=5, n_people=800, days=180)
    for ch in synthetic.CHANNELS:
        pd.testing.assert_frame_equal(synth.raw[ch], again.raw[ch])
    other = synthetic.generate(seed=6, n_people=800, days=180)
    assert not synth.raw["web"][C.SKU].equals(other.raw["web"][C.SKU])


def test_generator_has_channels_locations_promos_returns(synth):
    lines = pd.concat(synth.raw.values())
    assert set(lines[C.CHANNEL]) == set(synthetic.CHANNELS)
    assert lines[C.LOCATION_ID].nunique() == 3 + 2  # stores + online DC + marketplace
    assert 0.01 < (lines[C.QTY] < 0).mean() < 0.1  # returns
    assert lines[C.PROMO].any() and not lines[C.PROMO].all()
    store = synth.raw["store"]
    assert store[C.CUSTOMER_ID].isna().any()  # anonymous walk-ins


def test_generator_demand_patterns(synth):
    sales = pd.concat(synth.raw.values())
    sales = sales[sales[C.QTY] > 0]
    daily = sales.groupby([C.SKU, sales[C.TS].dt.normalize()])[C.QTY].sum()
    days_sold = daily.groupby(level=0).size()
    assert (days_sold < 0.2 * 180).sum() >= 5  # intermittent SKUs
    store = synth.raw["store"]
    by_dow = store.groupby(store[C.TS].dt.dayofweek)[C.QTY].sum()
    assert by_dow[[5, 6]].mean() > 1.3 * by_dow[[0, 1, 2, 3]].mean()  # weekend peak in stores
    # promotion uplift: units per day of a SKU are higher on promotion days
    per_day = sales.groupby([C.SKU, sales[C.TS].dt.normalize(), C.PROMO])[C.QTY].sum().reset_index()
    ratio = per_day.groupby(C.PROMO)[C.QTY].mean()
    assert ratio[True] > ratio[False]


def test_generator_truth_covers_every_source_id(synth):
    ids = pd.concat([f[[C.CUSTOMER_ID]].assign(src=ch) for ch, f in synth.raw.items()]).dropna()
    truth = set(zip(synth.truth[C.SOURCE], synth.truth[C.SOURCE_ID], strict=True))
    assert set(zip(ids["src"], ids[C.CUSTOMER_ID], strict=True)) <= truth


def test_synthetic_ingest_has_inventory_and_locations():
    result = synthetic.load(seed=2, n_people=300, days=90)
    inv = result.tables.inventory
    assert len(inv) > 0 and (inv[C.ON_HAND] >= 0).all()
    assert set(inv[C.SKU]) <= set(result.tables.products[C.SKU])
    locs = result.tables.locations.set_index(C.LOCATION_ID)
    assert locs.loc["dc_online", C.LOCATION_TYPE] == "warehouse"


# --- M5 ---------------------------------------------------------------------------------------


@pytest.fixture
def tiny_m5(tmp_path):
    """Two series over 10 days of history + 3 future days, in M5's own file layouts."""
    days = pd.date_range("2011-01-29", periods=13, freq="D")
    cal = pd.DataFrame(
        {
            "date": days,
            "wm_yr_wk": [11101] * 7 + [11102] * 6,
            "weekday": days.day_name(),
            "wday": [(d.dayofweek + 2) % 7 or 7 for d in days],
            "month": days.month,
            "year": days.year,
            "d": [f"d_{i}" for i in range(1, 14)],
            "event_name_1": [None] * 8 + ["SuperBowl"] + [None] * 4,
            "event_type_1": [None] * 8 + ["Sporting"] + [None] * 4,
            "event_name_2": None,
            "event_type_2": None,
            "snap_CA": [1, 0] * 6 + [1],
            "snap_TX": 0,
            "snap_WI": 0,
        }
    )
    sales = pd.DataFrame({"id": ["HOBBIES_2_001_CA_3_validation", "HOBBIES_2_002_CA_3_validation"]})
    for i in range(1, 11):
        sales[f"d_{i}"] = [i % 3, 0 if i < 8 else 2]
    prices = pd.DataFrame(
        {
            "store_id": ["CA_3"] * 4,
            "item_id": ["HOBBIES_2_001", "HOBBIES_2_001", "HOBBIES_2_002", "HOBBIES_2_002"],
            "wm_yr_wk": [11101, 11102, 11101, 11102],
            "sell_price": [2.0, 1.5, 4.0, 4.0],
        }
    )
    # item 002 exists only from week 11102 on
    prices = prices.drop(index=2)
    cal.to_parquet(tmp_path / "cal.parquet")
    sales.to_parquet(tmp_path / "sales.parquet")
    prices.to_parquet(tmp_path / "prices.parquet")
    return tmp_path


def test_m5_panel_and_future_covariates(tiny_m5):
    hist, static, future = m5.panel(tiny_m5, "sales.parquet", "cal.parquet", "prices.parquet")
    assert static[C.UNIQUE_ID].tolist() == ["HOBBIES_2_001_CA_3", "HOBBIES_2_002_CA_3"]
    assert static.set_index(C.UNIQUE_ID).loc["HOBBIES_2_001_CA_3", "dept_id"] == "HOBBIES_2"
    a = hist[hist[C.UNIQUE_ID] == "HOBBIES_2_001_CA_3"]
    assert len(a) == 10 and a[C.Y].tolist() == [i % 3 for i in range(1, 11)]
    assert a[C.PRICE].tolist() == [2.0] * 7 + [1.5] * 3
    assert a["snap"].tolist() == [1, 0] * 5
    assert a["event"].sum() == 1
    b = hist[hist[C.UNIQUE_ID] == "HOBBIES_2_002_CA_3"]
    assert b[C.DS].min() == pd.Timestamp("2011-02-05")  # from its first week on sale
    assert (
        len(future) == 6 and C.Y not in future and future[C.DS].min() == pd.Timestamp("2011-02-08")
    )


def test_m5_canonical_tables(tiny_m5):
    result = m5.load(
        tiny_m5, "sales.parquet", "cal.parquet", "prices.parquet", options=IngestOptions()
    )
    tx = result.tables.transactions
    assert tx[C.QTY].sum() == sum(i % 3 for i in range(1, 11)) + 2 * 3
    assert tx[C.CUSTOMER_ID].isna().all() and tx[C.CHANNEL].eq("store").all()
    p = result.tables.products.set_index(C.SKU)
    assert (
        p.loc["HOBBIES_2_001", C.CATEGORY] == "HOBBIES"
        and p.loc["HOBBIES_2_001", C.SUBCATEGORY] == "HOBBIES_2"
    )


def test_m5_rejects_malformed_ids(tmp_path):
    with pytest.raises(ValueError, match="ITEM_STORE"):
        m5.statics(pd.Series(["nonsense"]))
