"""Engagement events: ingested by config next to a transactions export, validated, One-ID applied."""

from __future__ import annotations

import pandas as pd
import pytest

from src.features import columns as C
from src.features.adapters import generic
from src.features.events import EventSpec
from src.features.ingest import IngestOptions, write_ingest
from src.features.tables import read_tables
from tests.helpers import GENERIC_COLUMNS

EVENT_COLUMNS = {"customer_id": "Visitor", "ts": "When", "event": "Action", "sku": "Item",
                 "email": "Mail"}  # fmt: skip
LABELS = {"PageView": "view", "Basket": "add_to_cart", "Heart": "wishlist"}


def events_block(path, name="web"):
    return [{"path": str(path), "name": name, "channel": "web", "columns": EVENT_COLUMNS,
             "labels": LABELS}]  # fmt: skip


@pytest.fixture
def event_rows():
    return {
        "Visitor": ["w1", "w1", "w2", "", "w3", "w3", "w1"],
        "When": ["2024-01-01 09:00", "2024-01-01 09:05", "2024-01-02 10:00", "2024-01-02 11:00",
                 "2024-01-03 12:00", "not a time", "2024-01-01 09:00"],
        "Action": ["PageView", "Basket", "Heart", "PageView", "Teleport", "PageView", "PageView"],
        "Item": ["A", "A", "B", "C", "A", "A", "A"],
        "Mail": ["c1@x.com", "c1@x.com", "new@y.com", None, None, None, "c1@x.com"],
    }  # fmt: skip


def test_events_are_validated_and_resolved_into_one_id(write_csv, good_rows, event_rows, tmp_path):
    good_rows["Mail"] = ["C1@x.com", "C1@x.com", None, "c1@x.com", None]  # c1 buys with the mail
    columns = {**GENERIC_COLUMNS, "email": "Mail"}
    ev_path = write_csv(event_rows, "events.csv")
    result = generic.load(write_csv(good_rows), columns, events=events_block(ev_path),
                          customer_id_is_member_id=False,
                          options=IngestOptions(max_reject_fraction=0.9))  # fmt: skip
    ev = result.tables.events
    assert list(ev.columns) == C.EVENTS
    # kept: w1 view + cart, w2 wishlist; rejected with file, row, column and rule
    assert sorted(ev[C.EVENT]) == ["add_to_cart", "view", "wishlist"]
    rej = result.rejects[result.rejects[C.REJECT_FILE] == str(ev_path)]
    by_rule = dict(zip(rej[C.REJECT_RULE], rej[C.REJECT_ROW], strict=True))
    assert by_rule == {"missing_customer_id": 3, "unknown_event": 4, "unparseable_timestamp": 5,
                       "duplicate_event": 6}  # fmt: skip
    assert set(rej[C.REJECT_COLUMN]) == {"Visitor", "Action", "When"}
    # w1 browses with the e-mail c1 buys with: one customer; w2 only browsed and still has an id
    tx_c1 = set(result.tables.transactions.loc[
        result.tables.transactions[C.ORDER_ID].isin(["o1"]), C.CUSTOMER_ID])  # fmt: skip
    w1 = set(ev.loc[ev[C.EVENT] == "view", C.CUSTOMER_ID])
    assert w1 == tx_c1
    w2 = ev.loc[ev[C.EVENT] == "wishlist", C.CUSTOMER_ID].iat[0]
    assert pd.notna(w2) and w2 not in set(result.tables.transactions[C.CUSTOMER_ID].dropna())
    assert "new@y.com" not in ev.to_string()  # only hashes are kept, and not in this table
    # written and read back with the other tables
    write_ingest(result, tmp_path / "t")
    back = read_tables(tmp_path / "t").events
    pd.testing.assert_frame_equal(back, ev.reset_index(drop=True), check_dtype=False)


def test_a_folder_written_before_events_reads_with_an_empty_events_table(write_csv, good_rows,
                                                                          tmp_path):  # fmt: skip
    write_ingest(generic.load(write_csv(good_rows), GENERIC_COLUMNS), tmp_path / "t")
    (tmp_path / "t" / "events.parquet").unlink()
    meta = tmp_path / "t" / "_tables.json"
    import json

    m = json.loads(meta.read_text())
    m["tables"].pop("events")
    meta.write_text(json.dumps(m))
    assert read_tables(tmp_path / "t").events.empty


def test_event_mappings_are_checked():
    with pytest.raises(ValueError, match="no source column mapped for \\['event'\\]"):
        EventSpec("web", "e.csv", {"customer_id": "V", "ts": "T"})
    with pytest.raises(ValueError, match="labels map onto \\['teleport'\\], not canonical"):
        EventSpec("web", "e.csv", {"customer_id": "V", "ts": "T", "event": "E"},
                  labels={"Tp": "teleport"})  # fmt: skip


def test_synthetic_events_follow_the_purchases_and_leave_the_lines_unchanged():
    from src.features.adapters import synthetic

    with_ev = synthetic.load(seed=3, n_people=300, n_skus=30, days=60)
    without = synthetic.load(seed=3, n_people=300, n_skus=30, days=60, events=False)
    # the same lines (events only add identity evidence: One-IDs may merge further)
    pd.testing.assert_frame_equal(
        with_ev.tables.transactions.drop(columns=C.CUSTOMER_ID),
        without.tables.transactions.drop(columns=C.CUSTOMER_ID),
    )
    assert without.tables.events.empty
    ev, tx = with_ev.tables.events, with_ev.tables.transactions
    assert set(ev[C.EVENT]) == set(C.EVENT_TYPES) - {C.EVENT_COUPON}
    assert set(ev[C.CHANNEL]) == {"web", "app"}
    # every web purchase line has a view of its SKU by the same One-ID shortly before it
    web = tx[(tx[C.CHANNEL] == "web") & (tx[C.LINE_TYPE] == C.LINE_SALE)].head(200)
    views = ev[ev[C.EVENT] == C.EVENT_VIEW]
    m = web.merge(views, on=[C.CUSTOMER_ID, C.SKU], suffixes=("", "_ev"))
    m = m[(m["ts_ev"] < m[C.TS]) & (m["ts_ev"] > m[C.TS] - pd.Timedelta(hours=3))]
    assert m[[C.ORDER_ID, C.LINE]].drop_duplicates().shape[0] == len(web)
    # some people only ever browse: One-IDs with events and no purchase
    assert len(set(ev[C.CUSTOMER_ID]) - set(tx[C.CUSTOMER_ID].dropna())) > 0
    assert ev[C.CUSTOMER_ID].notna().all()
