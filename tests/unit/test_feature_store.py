"""The feature store: versions, partitions with whole series, manifests, freshness, refusal."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from src.features import columns as C
from src.features.adapters import synthetic
from src.features.ingest import IngestOptions, write_ingest
from src.features.panel import PanelSpec, demand_panel
from src.features.sets import CatalogSet, CustomerSet, DemandSet, InteractionSet, channel_skus
from src.features.store import FeatureSetMissing, FeatureStore, bucket
from src.features.tables import read_tables


@pytest.fixture(scope="module")
def tables_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("canonical")
    result = synthetic.load(seed=3, n_people=250, n_skus=30, days=120, options=IngestOptions())
    write_ingest(result, out)
    return out


def store_at(tmp_path, tables_dir, **kw) -> FeatureStore:
    return FeatureStore(tmp_path / "features", tables_dir, **kw)


DAILY = DemandSet(PanelSpec(level="sku_location", freq="D"))


def test_round_trip_equals_the_builder(tmp_path, tables_dir):
    tables = read_tables(tables_dir)
    panel, static = demand_panel(tables.transactions, tables.products, DAILY.panel)
    fs = store_at(tmp_path, tables_dir, partitions=4).build(DAILY)
    pd.testing.assert_frame_equal(fs.read("panel"), panel)
    pd.testing.assert_frame_equal(fs.read("static"), static)


def test_partitions_hold_whole_series_and_the_manifest_counts_them(tmp_path, tables_dir):
    fs = store_at(tmp_path, tables_dir, partitions=4).build(DAILY)
    seen = {}
    for k in fs.partitions("panel"):
        part = fs.read("panel", partitions=[k])
        assert (bucket(part[C.UNIQUE_ID], 4) == k).all()
        for uid in part[C.UNIQUE_ID].unique():
            assert uid not in seen  # a series lives in exactly one partition
            seen[uid] = k
        statics = fs.read("static", partitions=[k])
        assert set(statics[C.UNIQUE_ID]) == set(part[C.UNIQUE_ID])  # its statics beside it
    m = json.loads((fs.path / "manifest.json").read_text())
    assert m["spec"]["level"] == "sku_location" and m["source_fingerprint"]
    parts = m["tables"]["panel"]["partitions"]
    assert sum(p["rows"] for p in parts) == len(fs.read("panel")) == fs.rows("panel")
    assert all(p["bytes"] > 0 and len(p["sha256"]) == 64 for p in parts)


def test_same_spec_and_data_is_one_version_and_a_new_spec_another(tmp_path, tables_dir):
    store = store_at(tmp_path, tables_dir)
    a = store.get(DAILY)  # not built yet: built now (on_missing=build)
    b = store.get(DAILY)
    assert a.path == b.path and a.fingerprint == b.fingerprint
    weekly = store.get(DemandSet(PanelSpec(level="sku_location", freq="D", holiday_country=None)))
    assert weekly.path.parent == a.path.parent and weekly.version != a.version
    assert "holiday" not in weekly.read("panel") and "holiday" in a.read("panel")


def test_changed_tables_give_a_new_version_and_old_ones_are_pruned(tmp_path, tables_dir):
    import shutil

    src = tmp_path / "tables"
    shutil.copytree(tables_dir, src)
    store = store_at(tmp_path, src, keep_versions=1)
    first = store.get(InteractionSet())
    tables = read_tables(src)
    tx = tables.transactions
    tx[tx[C.TS] < tx[C.TS].max() - pd.Timedelta(days=30)].to_parquet(
        src / "transactions.parquet", index=False
    )
    second = store.get(InteractionSet())  # the tables changed since: rebuilt
    assert second.version != first.version
    assert second.rows("interactions") < first.rows("interactions")
    assert not first.path.exists()  # keep_versions=1


def test_features_are_enough_when_the_tables_are_gone(tmp_path, tables_dir):
    import shutil

    src = tmp_path / "tables"
    shutil.copytree(tables_dir, src)
    built = store_at(tmp_path, src).build(CustomerSet())
    (src / "transactions.parquet").unlink()
    again = store_at(tmp_path, src).get(CustomerSet())
    assert again.path == built.path
    with pytest.raises(FeatureSetMissing, match="never built"):
        store_at(tmp_path, src).get(InteractionSet())


def test_on_missing_error_says_what_to_run(tmp_path, tables_dir):
    store = store_at(tmp_path, tables_dir, on_missing="error")
    with pytest.raises(FeatureSetMissing, match="pipelines.build_features"):
        store.get(CatalogSet())
    with pytest.raises(ValueError, match="on_missing"):
        store_at(tmp_path, tables_dir, on_missing="sometimes")


def test_a_failed_write_leaves_no_version_behind(tmp_path, tables_dir):
    store = store_at(tmp_path, tables_dir)

    class Broken(InteractionSet):
        def build(self, tables):
            return {"interactions": object()}  # not a frame: writing fails

    with pytest.raises(Exception):  # noqa: B017 - whatever the writer raises
        store.build(Broken())
    folder = tmp_path / "features" / "interactions"
    assert not [p for p in folder.iterdir() if not p.name.startswith(".")]
    assert not list(folder.glob(".incoming-*"))


def test_catalog_channel_availability_matches_the_transactions(tmp_path, tables_dir):
    tables = read_tables(tables_dir)
    items = store_at(tmp_path, tables_dir).get(CatalogSet()).read("channel_items")
    tx = tables.transactions
    for channel in tx[C.CHANNEL].dropna().unique():
        rows = tx[tx[C.CHANNEL] == channel]
        recent = rows[rows[C.TS] > rows[C.TS].max() - pd.Timedelta(days=30)]
        assert channel_skus(items, channel, 30) == set(recent[C.SKU].astype(str))


def test_sortedness_check_and_buckets_of_ids():
    from src.features.store import is_sorted

    df = pd.DataFrame({"a": ["x", "x", "y", "y"], "b": [2, 3, 1, 1]})
    assert is_sorted(df, ["a", "b"]) and not is_sorted(df, ["b"])
    assert not is_sorted(df.iloc[[1, 0, 2, 3]], ["a", "b"])
    assert not is_sorted(pd.DataFrame({"a": ["x", None, "y"]}), ["a"])  # unknown: sort
    ids = pd.Series(["s1", "s2", "s1", "s3"] * 3)
    b = bucket(ids, 4)
    assert (b[ids == "s1"] == b[0]).all() and b.min() >= 0 and b.max() < 4
    assert (bucket(ids[::-1].reset_index(drop=True), 4) == b[::-1]).all()  # order-free


# --- canonical transactions larger than one worker: SKU partitions, built one per task ---------


@pytest.fixture(scope="module")
def partitioned_dir(tmp_path_factory):
    """The same brand as ``tables_dir``, its transactions written as SKU partitions."""
    out = tmp_path_factory.mktemp("canonical_parts")
    result = synthetic.load(
        seed=3, n_people=250, n_skus=30, days=120, options=IngestOptions(partition_rows=2_000)
    )
    write_ingest(result, out)
    return out


def test_large_transactions_are_written_as_whole_sku_partitions(tables_dir, partitioned_dir):
    from src.features.tables import partitioning, table_files

    meta = partitioning(partitioned_dir, "transactions")
    files = table_files(partitioned_dir, "transactions")
    assert meta["by"] == C.SKU and meta["partitions"] == len(files) > 2
    assert not (partitioned_dir / "transactions.parquet").exists()
    seen = set()
    for f in files:
        skus = set(pd.read_parquet(f, columns=[C.SKU])[C.SKU])
        assert not skus & seen  # every SKU whole in one partition
        seen |= skus
    # read back, the partitioned table is the single-file table, row for row
    one, parts = read_tables(tables_dir), read_tables(partitioned_dir)
    pd.testing.assert_frame_equal(parts.transactions, one.transactions)


@pytest.mark.parametrize("level", ["sku_location", "sku"])
def test_demand_built_per_partition_equals_the_whole_table_build(
    tmp_path, tables_dir, partitioned_dir, level
):
    spec = DemandSet(PanelSpec(level=level, freq="D"))
    whole = store_at(tmp_path / "a", tables_dir, partitions=4).build(spec)
    parts = store_at(tmp_path / "b", partitioned_dir, partitions=4).build(spec)
    m = json.loads((parts.path / "manifest.json").read_text())
    n = len(list((partitioned_dir / "transactions").glob("part-*.parquet")))
    assert len(m["tables"]["panel"]["partitions"]) == n  # one output partition per source part
    assert m["tables"]["panel"]["partitioned_from"] == "transactions by sku"
    for table, keys in (("panel", [C.UNIQUE_ID, C.DS]), ("static", [C.UNIQUE_ID])):
        a = whole.read(table).sort_values(keys, ignore_index=True)
        b = parts.read(table).sort_values(keys, ignore_index=True)
        pd.testing.assert_frame_equal(a, b)
    # every series whole in one partition, its statics beside it
    seen = set()
    for k in parts.partitions("panel"):
        ids = set(parts.read("panel", partitions=[k])[C.UNIQUE_ID])
        assert not ids & seen
        seen |= ids
        assert ids == set(parts.read("static", partitions=[k])[C.UNIQUE_ID])


def test_a_table_that_shrinks_goes_back_to_one_file(tmp_path):
    out = tmp_path / "t"
    small = synthetic.load(seed=3, n_people=60, n_skus=10, days=30, options=IngestOptions())
    big = synthetic.load(
        seed=3, n_people=60, n_skus=10, days=30, options=IngestOptions(partition_rows=100)
    )
    write_ingest(big, out)
    assert (out / "transactions").is_dir()
    write_ingest(small, out)
    assert (out / "transactions.parquet").is_file() and not (out / "transactions").exists()
    write_ingest(big, out)
    assert (out / "transactions").is_dir() and not (out / "transactions.parquet").exists()
    assert not list(out.glob(".*"))  # no staging leftovers
