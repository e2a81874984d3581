"""The canonical tables (DESIGN.md): assembled from canonical lines, written and read as Parquet.

``assemble`` takes the kept lines of every source, resolves identities (One-ID), links returns to
the sales they reverse, and derives the products, locations and customers tables.
``write_frames`` replaces a folder's tables atomically: a failed run leaves what was there intact.

A table is ``<name>.parquet``, or — for ``transactions`` larger than ``partition_rows`` — a folder
``<name>/part-00000.parquet …`` split by a stable hash of the SKU (:func:`bucket`), every SKU
whole in one file, with ``_partitioning.json`` saying how. Readers take either form
(:func:`table_files`, :func:`read_table`); the feature store builds demand panels one such
partition at a time, so no process holds the brand's transactions (DESIGN.md "Scale path").
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from src.features import columns as C
from src.features.catalog import build_products
from src.features.identity import IdentityReport, identity_records, resolve

DTYPES = {
    "transactions": {
        C.ORDER_ID: "string",
        C.LINE: "int64",
        C.TS: "datetime64[ns]",
        C.CUSTOMER_ID: "string",
        C.CHANNEL: "string",
        C.LOCATION_ID: "string",
        C.SKU: "string",
        C.QTY: "float64",
        C.UNIT_PRICE: "float64",
        C.PROMO: "bool",
        C.LINE_TYPE: "string",
        C.LINKED_ORDER_ID: "string",
        C.SOURCE: "string",
    },
    "customers": {
        C.CUSTOMER_ID: "string",
        C.FIRST_SEEN: "datetime64[ns]",
        C.LAST_SEEN: "datetime64[ns]",
        C.COUNTRY: "string",
        C.N_SOURCE_IDS: "int64",
    },
    "identity_map": {
        C.SOURCE: "string",
        C.SOURCE_ID: "string",
        C.CUSTOMER_ID: "string",
        C.MATCH_RULE: "string",
    },
    "products": {
        C.SKU: "string",
        C.NAME: "string",
        C.CATEGORY: "string",
        C.SUBCATEGORY: "string",
        C.UNIT_COST: "float64",
        C.IS_MERCHANDISE: "bool",
    },
    "locations": {
        C.LOCATION_ID: "string",
        C.LOCATION_TYPE: "string",
        C.REGION: "string",
        C.LEAD_TIME_DAYS: "float64",
    },
    "inventory": {
        C.LOCATION_ID: "string",
        C.SKU: "string",
        C.AS_OF: "datetime64[ns]",
        C.ON_HAND: "float64",
        C.ON_ORDER: "float64",
    },
}


def empty(table: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in DTYPES[table].items()})


def conform(table: str, df: pd.DataFrame) -> pd.DataFrame:
    """Columns in contract order with contract dtypes."""
    return df[list(DTYPES[table])].astype(DTYPES[table])


@dataclass
class CanonicalTables:
    transactions: pd.DataFrame
    customers: pd.DataFrame
    identity_map: pd.DataFrame
    products: pd.DataFrame
    locations: pd.DataFrame
    inventory: pd.DataFrame
    identity_report: IdentityReport | None = None
    notes: dict = field(default_factory=dict)

    def frames(self) -> dict[str, pd.DataFrame]:
        return {name: getattr(self, name) for name in C.TABLES}


# --- assembling -------------------------------------------------------------------------------


def link_returns(tx: pd.DataFrame) -> pd.Series:
    """For each return line, the latest earlier sale of the same customer and SKU (else null)."""
    linked = pd.Series(pd.NA, index=tx.index, dtype="string")
    returns = tx[(tx[C.LINE_TYPE] == C.LINE_RETURN) & tx[C.CUSTOMER_ID].notna()]
    sales = tx[(tx[C.LINE_TYPE] == C.LINE_SALE) & tx[C.CUSTOMER_ID].notna()]
    if returns.empty or sales.empty:
        return linked
    left = returns[[C.TS, C.CUSTOMER_ID, C.SKU]].astype({C.CUSTOMER_ID: object, C.SKU: object})
    right = sales[[C.TS, C.CUSTOMER_ID, C.SKU, C.ORDER_ID]].astype(
        {C.CUSTOMER_ID: object, C.SKU: object}
    )
    left = left.reset_index().sort_values(C.TS, kind="stable")
    right = right.sort_values(C.TS, kind="stable")
    match = pd.merge_asof(
        left,
        right,
        on=C.TS,
        by=[C.CUSTOMER_ID, C.SKU],
        direction="backward",
        allow_exact_matches=True,
    )
    linked.loc[match["index"].to_numpy()] = match[C.ORDER_ID].astype("string").to_numpy()
    return linked


def build_locations(
    tx: pd.DataFrame, regions: pd.Series | None, location_types: Mapping[str, str], lead_time: float
) -> pd.DataFrame:
    """One row per location id in ``tx``; type from the config map, else from the channel."""
    loc = tx.groupby(C.LOCATION_ID, observed=True)[C.CHANNEL].agg(lambda s: s.mode().iat[0])
    out = pd.DataFrame({C.LOCATION_ID: loc.index})
    channel_type = {
        "web": "online",
        "app": "online",
        "store": "store",
        "marketplace": "marketplace",
    }
    by_channel = loc.map(lambda ch: channel_type.get(str(ch), "online")).to_numpy()
    out[C.LOCATION_TYPE] = [
        location_types.get(i, t) for i, t in zip(out[C.LOCATION_ID], by_channel, strict=True)
    ]
    out[C.REGION] = out[C.LOCATION_ID].map(regions) if regions is not None else out[C.LOCATION_ID]
    out[C.REGION] = out[C.REGION].fillna(out[C.LOCATION_ID])
    out[C.LEAD_TIME_DAYS] = float(lead_time)
    return out


def assemble(
    lines: pd.DataFrame,
    *,
    non_merchandise: Mapping[str, str] | None = None,
    min_skus_per_category: int = 10,
    identity_salt: str = "",
    default_country_code: str = "44",
    member_id_sources: tuple[str, ...] = (),
    locations: pd.DataFrame | None = None,
    location_types: Mapping[str, str] | None = None,
    lead_time_days: float = 7.0,
    inventory: pd.DataFrame | None = None,
    products: pd.DataFrame | None = None,
) -> CanonicalTables:
    """Canonical tables from the kept lines of all sources (see ``canonical_lines``).

    ``member_id_sources``: sources whose own customer key *is* the brand-wide member id.
    """
    lines = lines.reset_index(drop=True)
    records = identity_records(lines, identity_salt, default_country_code)
    own_key = records[C.SOURCE].isin(member_id_sources)
    records.loc[own_key, C.MEMBER_ID] = records.loc[own_key, C.MEMBER_ID].fillna(
        records.loc[own_key, C.SOURCE_ID]
    )
    identity_map, report = resolve(records)

    tx = lines.rename(columns={C.CUSTOMER_ID: C.SOURCE_ID})
    key = tx[[C.SOURCE, C.SOURCE_ID]].astype(object)
    one_id = identity_map.set_index([C.SOURCE, C.SOURCE_ID])[C.CUSTOMER_ID]
    tx[C.CUSTOMER_ID] = one_id.reindex(pd.MultiIndex.from_frame(key)).to_numpy()
    tx = conform("transactions", tx.assign(**{C.LINKED_ORDER_ID: pd.NA}))
    tx[C.LINKED_ORDER_ID] = link_returns(tx)
    tx = tx.sort_values([C.TS, C.ORDER_ID, C.LINE], kind="stable", ignore_index=True)

    if products is None:
        products = build_products(lines, non_merchandise, min_skus_per_category)
    if locations is None:
        regions = (
            lines.dropna(subset=[C.REGION])
            .drop_duplicates(C.LOCATION_ID)
            .set_index(C.LOCATION_ID)[C.REGION]
            if C.REGION in lines
            else None
        )
        locations = build_locations(tx, regions, location_types or {}, lead_time_days)

    customers = build_customers(tx, lines, identity_map)
    return CanonicalTables(
        transactions=tx,
        customers=conform("customers", customers),
        identity_map=conform("identity_map", identity_map),
        products=conform("products", products),
        locations=conform("locations", locations),
        inventory=conform("inventory", inventory) if inventory is not None else empty("inventory"),
        identity_report=report,
    )


def build_customers(
    tx: pd.DataFrame, lines: pd.DataFrame, identity_map: pd.DataFrame
) -> pd.DataFrame:
    known = tx[tx[C.CUSTOMER_ID].notna()]
    g = known.groupby(C.CUSTOMER_ID, observed=True)[C.TS]
    out = pd.DataFrame({C.FIRST_SEEN: g.min(), C.LAST_SEEN: g.max()})
    if C.COUNTRY in lines:
        country = lines[C.COUNTRY]
    elif C.REGION in lines:
        country = lines[C.REGION]
    else:
        country = None
    if country is not None:
        pairs = pd.DataFrame(
            {C.CUSTOMER_ID: tx[C.CUSTOMER_ID].to_numpy(), C.COUNTRY: country.to_numpy()}
        )
        pairs = pairs.dropna()
        counts = (
            pairs.groupby([C.CUSTOMER_ID, C.COUNTRY], observed=True).size().reset_index(name="n")
        )
        counts = counts.sort_values([C.CUSTOMER_ID, "n"], ascending=[True, False], kind="stable")
        out[C.COUNTRY] = counts.drop_duplicates(C.CUSTOMER_ID).set_index(C.CUSTOMER_ID)[C.COUNTRY]
    else:
        out[C.COUNTRY] = pd.NA
    out[C.N_SOURCE_IDS] = identity_map.groupby(C.CUSTOMER_ID).size()
    out[C.N_SOURCE_IDS] = out[C.N_SOURCE_IDS].fillna(1)
    return out.rename_axis(C.CUSTOMER_ID).reset_index()


# --- reading and writing ----------------------------------------------------------------------

PARTITIONING = "_partitioning.json"
PARTITION_KEYS = {"transactions": C.SKU}  # tables written partitioned when large, and by what
ROW_ORDER = {"transactions": [C.TS, C.ORDER_ID, C.LINE]}  # as ``assemble`` writes them


def bucket(values: pd.Series, n: int) -> np.ndarray:
    """Stable partition number in ``0..n-1`` of each value (same on every machine and run)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)  # hash each id once
    hashed = pd.util.hash_array(np.asarray(pd.Index(uniques).astype(str), dtype=object))
    return (hashed % np.uint64(n)).astype(np.int64)[codes]


def table_files(folder: str | Path, name: str) -> list[Path] | None:
    """The Parquet files of table ``name`` in ``folder`` (one file, or a partitioned folder's
    parts in order); None when the table is not there."""
    folder = Path(folder)
    single = folder / f"{name}.parquet"
    if single.is_file():
        return [single]
    parts = folder / name
    if (parts / PARTITIONING).is_file():
        return sorted(parts.glob("part-*.parquet"))
    return None


def partitioning(folder: str | Path, name: str) -> dict | None:
    """``{"by": column, "partitions": n}`` of a partitioned table, None for a single file."""
    meta = Path(folder) / name / PARTITIONING
    return json.loads(meta.read_text()) if meta.is_file() else None


def read_table(
    folder: str | Path, name: str, columns: list[str] | None = None, files: list[Path] | None = None
) -> pd.DataFrame:
    """Canonical table ``name`` (or the given part ``files`` of it), with contract dtypes."""
    files = files if files is not None else table_files(folder, name)
    if files is None:
        raise FileNotFoundError(
            f"{folder}: canonical table {name!r} not found; run `python -m pipelines.ingest` first"
        )
    frames = [pd.read_parquet(f, columns=columns) for f in files]
    frame = frames[0]
    if len(frames) > 1:  # parts of a partitioned table: back to the table's own row order
        frame = pd.concat(frames, ignore_index=True)
        order = [c for c in ROW_ORDER.get(name, []) if c in frame]
        if order:
            frame = frame.sort_values(order, kind="stable", ignore_index=True)
    dtypes = {c: t for c, t in DTYPES[name].items() if columns is None or c in columns}
    return frame[list(dtypes)].astype(dtypes)


def split_by_key(frame: pd.DataFrame, key: str, partition_rows: int) -> list[pd.DataFrame]:
    """``frame`` in ``ceil(rows / partition_rows)`` parts by a stable hash of ``key`` (each key's
    rows whole in one part, original row order kept inside a part)."""
    n = max(1, math.ceil(len(frame) / max(int(partition_rows), 1)))
    part = bucket(frame[key], n)
    return [frame[part == k] for k in range(n)]


def _atomic_replace(target: Path, files: dict[str, bytes | Path]) -> None:
    """Write all ``files`` into a temp folder beside ``target``, then move each into place.

    A name may be a folder (a partitioned table): the old folder is set aside and removed after
    the new one is in place; a table that changes form (file <-> folder) loses its old form.
    """
    target.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".incoming-", dir=target))
    try:
        for name, content in files.items():
            if isinstance(content, Path):
                shutil.move(str(content), tmp / name)
            else:
                (tmp / name).write_bytes(content)
        for name in files:
            stem = name.removesuffix(".parquet")
            other = target / (stem if name.endswith(".parquet") else f"{name}.parquet")
            if (tmp / name).is_dir():
                old = target / name
                if old.exists():
                    old.rename(tmp / f".old-{name}")
                os.replace(tmp / name, target / name)
            else:
                if (target / name).is_dir():
                    (target / name).rename(tmp / f".old-{name}")
                os.replace(tmp / name, target / name)
            if stem in PARTITION_KEYS and other.exists():
                if other.is_dir():
                    shutil.rmtree(other)
                else:
                    other.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_frames(
    target: str | Path,
    frames: Mapping[str, pd.DataFrame],
    extra: Mapping[str, str] | None = None,
    partition_rows: int | None = None,
) -> None:
    """Write ``name.parquet`` for each frame (and text files in ``extra``) atomically; a table of
    ``PARTITION_KEYS`` with more than ``partition_rows`` rows becomes a partitioned folder."""
    target = Path(target)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target if target.exists() else None))
    try:
        files: dict[str, bytes | Path] = {}
        for name, frame in frames.items():
            key = PARTITION_KEYS.get(name)
            if key and partition_rows and len(frame) > partition_rows:
                folder = staging / name
                folder.mkdir()
                parts = split_by_key(frame, key, partition_rows)
                for k, part in enumerate(parts):
                    part.to_parquet(folder / f"part-{k:05d}.parquet", index=False)
                (folder / PARTITIONING).write_text(
                    json.dumps({"by": key, "partitions": len(parts), "rows": len(frame)})
                )
                files[name] = folder
                continue
            path = staging / f"{name}.parquet"
            frame.to_parquet(path, index=False)
            files[f"{name}.parquet"] = path
        for name, text in (extra or {}).items():
            files[name] = text.encode()
        _atomic_replace(target, files)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def read_tables(source: str | Path) -> CanonicalTables:
    source = Path(source)
    missing = [n for n in C.TABLES if table_files(source, n) is None]
    if missing:
        raise FileNotFoundError(
            f"{source}: canonical tables {missing} not found; run `python -m pipelines.ingest` first"
        )
    frames = {n: read_table(source, n) for n in C.TABLES}
    return CanonicalTables(**frames)


def fingerprint(paths: list[str | Path]) -> str:
    """SHA-256 over the bytes of the given files (the data fingerprint logged with runs)."""
    h = hashlib.sha256()
    for p in sorted(map(str, paths)):
        h.update(Path(p).name.encode())
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def summary_counts(tx: pd.DataFrame) -> dict:
    return {
        "lines": int(len(tx)),
        "orders": int(tx[C.ORDER_ID].nunique()),
        "customers": int(tx[C.CUSTOMER_ID].nunique()),
        "skus": int(tx[C.SKU].nunique()),
        "date_from": str(tx[C.TS].min()),
        "date_to": str(tx[C.TS].max()),
        "lines_by_type": {str(k): int(v) for k, v in tx[C.LINE_TYPE].value_counts().items()},
        "returns_linked": int(tx[C.LINKED_ORDER_ID].notna().sum()),
        "anonymous_lines": int(tx[C.CUSTOMER_ID].isna().sum()),
    }
