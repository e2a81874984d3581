"""Every validation case: a clear error (file, column, rule, examples) or a reported reject."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src.features import columns as C
from src.features.adapters import generic
from src.features.ingest import IngestOptions
from src.features.validation import DataValidationError, normalise_ids, read_table
from tests.helpers import GENERIC_COLUMNS


def ingest_rows(write_csv, rows, columns=GENERIC_COLUMNS, **kwargs):
    path = write_csv(rows)
    return generic.load(
        path, columns, options=IngestOptions(max_reject_fraction=0.9), **kwargs
    ), path


def rejected(result, rule):
    r = result.rejects
    return r[r[C.REJECT_RULE] == rule]


def test_clean_rows_are_all_kept(write_csv, good_rows):
    result, path = ingest_rows(write_csv, good_rows)
    assert len(result.tables.transactions) == 5
    assert result.rejects.empty
    assert result.report["files"][str(path)] == {"rows_in": 5, "rows_kept": 5, "rows_rejected": 0}


def test_missing_required_column_names_file_column_and_rule(write_csv, good_rows):
    del good_rows["Units"]
    path = write_csv(good_rows)
    with pytest.raises(DataValidationError) as err:
        generic.load(path, GENERIC_COLUMNS)
    msg = str(err.value)
    assert str(path) in msg and "'Units'" in msg and "required_column" in msg and "qty" in msg
    assert err.value.column == "Units"


def test_unparseable_timestamp_is_rejected_with_its_value(write_csv, good_rows):
    good_rows["When"][2] = "not a date"
    result, path = ingest_rows(write_csv, good_rows)
    bad = rejected(result, "unparseable_timestamp")
    assert bad[C.REJECT_ROW].tolist() == [2]
    assert bad[C.REJECT_COLUMN].iat[0] == "When" and bad[C.REJECT_VALUE].iat[0] == "not a date"
    assert bad[C.REJECT_FILE].iat[0] == str(path)
    assert bad["raw_Order"].iat[0] == "o2"  # the raw row travels with the reject
    assert len(result.tables.transactions) == 4


@pytest.mark.parametrize(("value", "rule"), [("-5", "negative_price"), ("", "nan_price")])
def test_negative_or_nan_price_is_rejected(write_csv, good_rows, value, rule):
    good_rows["Amount"][1] = value
    result, _ = ingest_rows(write_csv, good_rows)
    assert rejected(result, rule)[C.REJECT_ROW].tolist() == [1]


def test_non_numeric_price_is_rejected(write_csv, good_rows):
    good_rows["Amount"][0] = "ten"
    result, _ = ingest_rows(write_csv, good_rows)
    assert rejected(result, "non_numeric_price")[C.REJECT_ROW].tolist() == [0]


def test_zero_quantity_is_rejected(write_csv, good_rows):
    good_rows["Units"][3] = "0"
    result, _ = ingest_rows(write_csv, good_rows)
    assert rejected(result, "zero_quantity")[C.REJECT_ROW].tolist() == [3]


def test_duplicate_order_line_with_line_numbers(write_csv, good_rows):
    good_rows["LineNo"] = ["1", "1", "1", "1", "1"]  # o1 has line 1 twice
    result, _ = ingest_rows(write_csv, good_rows, columns={**GENERIC_COLUMNS, "line": "LineNo"})
    bad = rejected(result, "duplicate_order_line")
    assert bad[C.REJECT_ROW].tolist() == [1]  # the first occurrence is kept
    assert len(result.tables.transactions) == 4


def test_identical_line_without_line_numbers_is_a_duplicate(write_csv, good_rows):
    rows = {k: [*v, v[0]] for k, v in good_rows.items()}  # row 5 repeats row 0
    result, _ = ingest_rows(write_csv, rows)
    assert rejected(result, "duplicate_order_line")[C.REJECT_ROW].tolist() == [5]


def test_mixed_type_customer_ids_are_normalised_or_rejected(write_csv, good_rows):
    good_rows["Customer"] = ["17850", "17850.0", " 17850 ", "A-12", "1.5"]
    result, _ = ingest_rows(write_csv, good_rows)
    bad = rejected(result, "customer_id_mixed_type")
    assert bad[C.REJECT_ROW].tolist() == [4] and bad[C.REJECT_VALUE].iat[0] == "1.5"
    customers = result.tables.transactions[C.CUSTOMER_ID].dropna().unique().tolist()
    assert sorted(customers) == ["17850", "A-12"]  # 17850, 17850.0 and " 17850 " are one customer


def test_normalise_ids_on_mixed_python_objects():
    raw = pd.Series([17850, "17850", 17850.0, " A-12 ", 1.5, None, True], dtype=object)
    ids, bad = normalise_ids(raw)
    assert ids.tolist()[:4] == ["17850", "17850", "17850", "A-12"]
    assert bad.tolist() == [False, False, False, False, True, False, True]
    assert pd.isna(ids.iat[5])


def test_float_customer_ids_from_csv_collapse(write_csv, good_rows):
    good_rows["Customer"] = ["17850.0", "17850", "17850.0", "12", "12.0"]
    result, _ = ingest_rows(write_csv, good_rows)
    assert sorted(result.tables.customers[C.CUSTOMER_ID]) == ["12", "17850"]


def test_future_timestamp_is_rejected(write_csv, good_rows):
    future = (pd.Timestamp.now() + pd.Timedelta(days=30)).strftime("%Y-%m-%d %H:%M")
    good_rows["When"][4] = future
    result, _ = ingest_rows(write_csv, good_rows)
    assert rejected(result, "future_timestamp")[C.REJECT_ROW].tolist() == [4]


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(
        DataValidationError, match=r"empty.csv: file is empty .*\[rule: non_empty\]"
    ):
        generic.load(path, GENERIC_COLUMNS)


def test_header_only_file(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("Order,Customer,Item,When,Units,Amount,Shop\n")
    with pytest.raises(DataValidationError, match=r"no data rows .*\[rule: non_empty\]"):
        generic.load(path, GENERIC_COLUMNS)


@pytest.mark.parametrize("name", ["export.xlsx", "export.json"])
def test_wrong_file_type_by_suffix(tmp_path, name):
    path = tmp_path / name
    path.write_text("{}")
    with pytest.raises(DataValidationError, match=r"unsupported file type .*\[rule: file_type\]"):
        read_table(path)


def test_wrong_file_type_by_content(tmp_path):
    path = tmp_path / "export.parquet"
    path.write_text("Order,Item\n1,A\n")  # a CSV pretending to be Parquet
    with pytest.raises(
        DataValidationError, match=r"cannot be read as parquet.*\[rule: file_type\]"
    ):
        read_table(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataValidationError, match=r"file not found \[rule: file_exists\]"):
        read_table(tmp_path / "nope.csv")


def test_inventory_for_unknown_sku_is_rejected(write_csv, good_rows):
    tx = write_csv(good_rows)
    inv = write_csv(
        {
            "loc": ["s1", "s1", "s2", "nowhere"],
            "item": ["A", "ZZZ", "B", "A"],
            "oh": ["5", "3", "-1", "2"],
        },
        name="inventory.csv",
    )
    result = generic.load(
        tx,
        GENERIC_COLUMNS,
        inventory={
            "path": inv,
            "as_of": "2024-01-07",
            "columns": {"location_id": "loc", "sku": "item", "on_hand": "oh"},
        },
        options=IngestOptions(max_reject_fraction=0.9),
    )
    r = result.rejects[result.rejects[C.REJECT_FILE] == str(inv)].set_index(C.REJECT_ROW)
    assert r.loc[1, C.REJECT_RULE] == "unknown_sku" and r.loc[1, C.REJECT_VALUE] == "ZZZ"
    assert r.loc[2, C.REJECT_RULE] == "negative_stock"
    assert r.loc[3, C.REJECT_RULE] == "unknown_location"
    assert result.tables.inventory[C.SKU].tolist() == ["A"]
    assert result.report["files"][str(inv)] == {"rows_in": 4, "rows_kept": 1, "rows_rejected": 3}


def test_mostly_bad_file_stops_with_examples(write_csv, good_rows):
    good_rows["When"] = ["31/31/2024"] * 5
    path = write_csv(good_rows)
    with pytest.raises(DataValidationError) as err:
        generic.load(path, GENERIC_COLUMNS)
    msg = str(err.value)
    assert "unparseable_timestamp" in msg and "'When'" in msg and "5 of 5 rows rejected" in msg
    assert "31/31/2024" in msg  # example rows are shown


def test_rows_in_equal_rows_kept_plus_rejected(write_csv):
    rng = np.random.default_rng(0)
    n = 300
    rows = {
        "Order": rng.integers(0, 60, n).astype(str),
        "Customer": rng.choice(["c1", "c2", "", "3.0", "4.5"], n, p=[0.4, 0.3, 0.1, 0.1, 0.1]),
        "Item": rng.choice(["A", "B", "C", ""], n, p=[0.4, 0.3, 0.25, 0.05]),
        "When": rng.choice(
            ["2024-01-02", "2024-02-30", "garbage", "2024-03-04 10:00"], n, p=[0.5, 0.05, 0.05, 0.4]
        ),
        "Units": rng.choice(["1", "0", "-2", "x", "3"], n, p=[0.5, 0.05, 0.1, 0.05, 0.3]),
        "Amount": rng.choice(["1.5", "-1", "", "abc", "7"], n, p=[0.5, 0.05, 0.05, 0.05, 0.35]),
        "Shop": "s1",
    }
    result, path = ingest_rows(write_csv, rows)
    f = result.report["files"][str(path)]
    assert f["rows_in"] == n == f["rows_kept"] + f["rows_rejected"]
    assert f["rows_kept"] == len(result.tables.transactions)
    assert result.rejects[C.REJECT_ROW].is_unique  # one report row per rejected source row
    assert set(result.rejects[C.REJECT_ROW]).isdisjoint(
        set(range(n)) - set(result.rejects[C.REJECT_ROW])
    )
