"""UCI adapter on real slices of both embedded files, in each file's own column spelling."""

from __future__ import annotations

import pandas as pd
import pytest

from src.features import columns as C
from src.features.adapters import online_retail
from src.features.adapters.online_retail import column_mapping


@pytest.fixture(scope="module")
def result(uci_sample):
    files = [
        {"path": "online_retail_ii_2009_2010.parquet", "until": "2010-12-01"},
        {"path": "online_retail.parquet"},
    ]
    return online_retail.load(files, root=uci_sample["dir"])


def test_both_column_spellings():
    old = column_mapping(
        [
            "InvoiceNo",
            "StockCode",
            "Description",
            "Quantity",
            "InvoiceDate",
            "UnitPrice",
            "CustomerID",
            "Country",
        ]
    )
    new = column_mapping(
        [
            "Invoice",
            "StockCode",
            "Description",
            "Quantity",
            "InvoiceDate",
            "Price",
            "Customer ID",
            "Country",
        ]
    )
    assert old[C.ORDER_ID] == "InvoiceNo" and new[C.ORDER_ID] == "Invoice"
    assert old[C.UNIT_PRICE] == "UnitPrice" and new[C.UNIT_PRICE] == "Price"
    assert old[C.CUSTOMER_ID] == "CustomerID" and new[C.CUSTOMER_ID] == "Customer ID"


def test_overlap_counted_once(result, uci_sample):
    tx = result.tables.transactions
    in_overlap = tx[(tx[C.TS] >= "2010-12-01") & (tx[C.TS] < "2010-12-10")]
    one = pd.read_parquet(uci_sample["one"])
    one_overlap = one[one.InvoiceDate < "2010-12-10"]
    dup_rows = int(one_overlap.duplicated().sum())  # identical lines inside the file itself
    assert len(in_overlap) == len(one_overlap) - dup_rows
    rules = result.rejects.groupby(C.REJECT_RULE).size()
    assert rules["duplicate_across_sources"] == uci_sample["overlap_rows"]


def test_counts_in_equal_kept_plus_rejected(result):
    for file, f in result.report["files"].items():
        assert f["rows_in"] == f["rows_kept"] + f["rows_rejected"], file
    assert sum(f["rows_kept"] for f in result.report["files"].values()) == len(
        result.tables.transactions
    )


def test_cancellations_are_returns_linked_to_their_sale(result):
    tx = result.tables.transactions
    returns = tx[tx[C.ORDER_ID].str.startswith("C")]
    assert len(returns) > 0
    assert (returns[C.LINE_TYPE] == C.LINE_RETURN).all() and (returns[C.QTY] < 0).all()
    linked = returns[returns[C.LINKED_ORDER_ID].notna()]
    assert len(linked) > 0
    sales = tx[tx[C.LINE_TYPE] == C.LINE_SALE].set_index(C.ORDER_ID)
    for _, r in linked.head(20).iterrows():  # the linked sale: same customer and SKU, earlier
        sale = sales.loc[[r[C.LINKED_ORDER_ID]]]
        match = sale[(sale[C.SKU] == r[C.SKU]) & (sale[C.CUSTOMER_ID] == r[C.CUSTOMER_ID])]
        assert len(match) and (match[C.TS] <= r[C.TS]).all()


def test_adjustments_are_classified(result):
    tx = result.tables.transactions
    adj = tx[tx[C.LINE_TYPE] == C.LINE_ADJUSTMENT]
    assert len(adj) > 0
    # stock write-offs: negative, priced 0, on ordinary invoices
    assert ((adj[C.QTY] < 0) | adj[C.ORDER_ID].str.startswith("A")).all()


def test_non_merchandise_is_classified_not_dropped(result):
    products = result.tables.products.set_index(C.SKU)
    for code, kind in [
        ("POST", "postage"),
        ("M", "adjustment"),
        ("DOT", "postage"),
        ("BANK CHARGES", "fee"),
    ]:
        assert not products.loc[code, C.IS_MERCHANDISE]
        assert products.loc[code, C.CATEGORY] == C.NON_MERCHANDISE
        assert products.loc[code, C.SUBCATEGORY] == kind
        assert (result.tables.transactions[C.SKU] == code).any()  # still in transactions
    assert products.loc["85123A", C.IS_MERCHANDISE]


def test_negative_price_bad_debt_is_reported(result):
    bad = result.rejects[result.rejects[C.REJECT_RULE] == "negative_price"]
    assert len(bad) > 0 and (bad["raw_StockCode"] == "B").all()


def test_country_is_the_location_dimension(result):
    tx = result.tables.transactions
    locs = result.tables.locations.set_index(C.LOCATION_ID)
    assert "united_kingdom" in locs.index
    assert locs.loc["united_kingdom", C.REGION] == "United Kingdom"
    assert set(tx[C.LOCATION_ID]) <= set(locs.index)
    assert (
        result.tables.customers.set_index(C.CUSTOMER_ID).loc["12346", C.COUNTRY] == "United Kingdom"
    )


def test_customer_ids_shared_across_the_two_files(result):
    ident = result.tables.identity_map
    assert ident[C.SOURCE].eq("online_retail").all()
    assert (ident[C.CUSTOMER_ID] == ident[C.SOURCE_ID]).all()  # UCI's key is the member id
    tx = result.tables.transactions
    c = tx[tx[C.CUSTOMER_ID] == "13085"]
    assert c[C.TS].min() < pd.Timestamp("2010-12-01") < c[C.TS].max() or len(c) > 0
