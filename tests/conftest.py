"""Shared fixtures: tiny data made in the test, or small slices of the embedded UCI files."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import RAW

# the identity salt is a secret from the environment (src/features/identity.py); tests use a
# fixed one rather than creating the salt file in the user's home
os.environ.setdefault("RETAIL_BRAIN_ID_SALT", "tests-only-identity-salt")


@pytest.fixture
def write_csv(tmp_path):
    """Write a DataFrame (or dict of columns) as CSV in tmp_path and return its path."""

    def _write(data, name: str = "export.csv") -> Path:
        path = tmp_path / name
        pd.DataFrame(data).to_csv(path, index=False)
        return path

    return _write


@pytest.fixture
def good_rows() -> dict:
    """Five clean transaction lines in an export's own column names."""
    return {
        "Order": ["o1", "o1", "o2", "o3", "o4"],
        "Customer": ["c1", "c1", "c2", "c1", ""],
        "Item": ["A", "B", "A", "C", "B"],
        "When": [
            "2024-01-02 10:00",
            "2024-01-02 10:00",
            "2024-01-03 11:30",
            "2024-01-05 09:00",
            "2024-01-06 12:00",
        ],
        "Units": ["1", "2", "3", "1", "4"],
        "Amount": ["10.0", "9.0", "30.0", "5.5", "18.0"],
        "Shop": ["s1", "s1", "s2", "s1", "s2"],
    }


@pytest.fixture(scope="session")
def uci_sample(tmp_path_factory) -> dict[str, Path]:
    """A few hundred real lines of each UCI file, in each file's own column spelling.

    Includes the overlap days (2010-12-01..09), cancellations, adjustments and postage.
    """
    out = tmp_path_factory.mktemp("uci")
    ii = pd.read_parquet(RAW / "online_retail_ii_2009_2010.parquet")
    one = pd.read_parquet(RAW / "online_retail.parquet")
    # customers with both sales and cancellations, on both sides of the overlap
    keep_customers = {"12346", "13085", "17850", "14911", "12583"}
    overlap_days = ("2010-12-01", "2010-12-03")

    def pick(df, cust_col, inv_col):
        by_customer = df[df[cust_col].isin(keep_customers)]
        overlap = df[(df.InvoiceDate >= overlap_days[0]) & (df.InvoiceDate < overlap_days[1])]
        special = df[
            df.StockCode.isin(["POST", "M", "DOT", "B", "BANK CHARGES"])
            | df[inv_col].str.startswith("A")
        ]
        stock_adjust = df[(df.Quantity < 0) & ~df[inv_col].str.startswith("C")].head(20)
        bad_debt = df[df[inv_col].str.startswith("A")]  # "Adjust bad debt", negative prices
        parts = [by_customer.head(600), overlap.head(400), special.head(60), stock_adjust, bad_debt]
        return pd.concat(parts).drop_duplicates()

    a = pick(ii, "Customer ID", "Invoice").sort_values("InvoiceDate")
    b = pick(one, "CustomerID", "InvoiceNo").sort_values("InvoiceDate")
    # the overlap rows must be identical in both files for the sample too
    ov = b[(b.InvoiceDate >= overlap_days[0]) & (b.InvoiceDate < overlap_days[1])]
    a = pd.concat(
        [
            a[a.InvoiceDate < "2010-12-01"],
            ov.rename(
                columns={"InvoiceNo": "Invoice", "UnitPrice": "Price", "CustomerID": "Customer ID"}
            ),
        ]
    )
    pa, pb = out / "online_retail_ii_2009_2010.parquet", out / "online_retail.parquet"
    a.to_parquet(pa, index=False)
    b.to_parquet(pb, index=False)
    return {"dir": out, "ii": pa, "one": pb, "overlap_rows": len(ov)}
