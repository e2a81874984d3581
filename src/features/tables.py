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

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from src.features import columns as C
from src.features.catalog import build_products
from src.features.identity import IdentityReport, identity_records, resolve
from src.outputs.files import (  # noqa: F401 — the canonical tables' readers use them from here
    IncompleteTables,
    bucket,
    check_complete,
    fingerprint,
    partitioning,
    table_files,
)
from src.outputs.files import write_frames as _write_set

log = logging.getLogger(__name__)

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
        C.LAT: "float64",
        C.LON: "float64",
        C.SHIP_FROM: "boolean",
        C.PICK_CAPACITY: "float64",
        C.HANDLING_PER_ORDER: "float64",
        C.HANDLING_PER_UNIT: "float64",
    },
    "inventory": {
        C.LOCATION_ID: "string",
        C.SKU: "string",
        C.AS_OF: "datetime64[ns]",
        C.ON_HAND: "float64",
        C.ON_ORDER: "float64",
    },
    "events": {
        C.CUSTOMER_ID: "string",
        C.TS: "datetime64[ns]",
        C.EVENT: "string",
        C.SKU: "string",
        C.CHANNEL: "string",
        C.SOURCE: "string",
    },
    "campaigns": {
        C.CAMPAIGN_ID: "string",
        C.CAMPAIGN_TYPE: "string",
        C.CHANNEL: "string",
        C.START: "datetime64[ns]",
        C.END: "datetime64[ns]",
        C.COST: "float64",
        C.SOURCE: "string",
    },
    "campaign_members": {
        C.CAMPAIGN_ID: "string",
        C.CUSTOMER_ID: "string",
        C.GROUP: "string",
        C.SOURCE: "string",
    },
}


def empty(table: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in DTYPES[table].items()})


# columns a table gained after data was first written: null when an older folder lacks them
ADDED_COLUMNS = {"locations": C.ROUTING_ATTRIBUTES}


def conform(table: str, df: pd.DataFrame) -> pd.DataFrame:
    """Columns in contract order with contract dtypes."""
    missing = [c for c in ADDED_COLUMNS.get(table, ()) if c not in df]
    if missing:
        df = df.assign(**{c: None for c in missing})
    return df[list(DTYPES[table])].astype(DTYPES[table])


@dataclass
class CanonicalTables:
    transactions: pd.DataFrame
    customers: pd.DataFrame
    identity_map: pd.DataFrame
    products: pd.DataFrame
    locations: pd.DataFrame
    inventory: pd.DataFrame
    events: pd.DataFrame | None = None  # engagement events (One-ID applied); empty when none
    campaigns: pd.DataFrame | None = None  # campaigns sent; empty when none
    campaign_members: pd.DataFrame | None = None  # treated / holdout customers (One-ID applied)
    identity_report: IdentityReport | None = None
    notes: dict = field(default_factory=dict)

    def __post_init__(self):
        for name in C.OPTIONAL_TABLES:
            if getattr(self, name) is None:
                setattr(self, name, empty(name))

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
    events: pd.DataFrame | None = None,
    campaigns: pd.DataFrame | None = None,
    campaign_members: pd.DataFrame | None = None,
) -> CanonicalTables:
    """Canonical tables from the kept lines of all sources (see ``canonical_lines``).

    ``member_id_sources``: sources whose own customer key *is* the brand-wide member id.
    """
    lines = lines.reset_index(drop=True)
    id_cols = [C.SOURCE, C.CUSTOMER_ID, C.MEMBER_ID, C.EMAIL, C.PHONE]
    people = lines[[c for c in id_cols if c in lines]]
    for extra in (events, campaign_members):  # browsers / targets who never bought get one too
        if extra is not None and len(extra):
            people = pd.concat([people, extra[[c for c in id_cols if c in extra]]],
                               ignore_index=True)  # fmt: skip
    records = identity_records(people, identity_salt, default_country_code)
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
    ev = empty("events")
    if events is not None and len(events):
        key = pd.MultiIndex.from_frame(events[[C.SOURCE, C.CUSTOMER_ID]].astype(object))
        ev = events.assign(**{C.CUSTOMER_ID: one_id.reindex(key).to_numpy()})
        ev = conform("events", ev).sort_values(
            ROW_ORDER["events"], kind="stable", ignore_index=True
        )
    notes = {}
    members = empty("campaign_members")
    if campaign_members is not None and len(campaign_members):
        key = pd.MultiIndex.from_frame(campaign_members[[C.SOURCE, C.CUSTOMER_ID]].astype(object))
        members = campaign_members.assign(**{C.CUSTOMER_ID: one_id.reindex(key).to_numpy()})
        # two source ids of one person in one campaign: the person counts once (first row wins)
        merged = members.duplicated([C.CAMPAIGN_ID, C.CUSTOMER_ID])
        if merged.any():
            notes["campaign_members_merged_by_one_id"] = int(merged.sum())
        members = conform("campaign_members", members[~merged.to_numpy()])
        members = members.sort_values(ROW_ORDER["campaign_members"], kind="stable",
                                      ignore_index=True)  # fmt: skip
    camp = empty("campaigns")
    if campaigns is not None and len(campaigns):
        camp = conform("campaigns", campaigns).sort_values(ROW_ORDER["campaigns"], kind="stable",
                                                           ignore_index=True)  # fmt: skip
    return CanonicalTables(
        campaigns=camp,
        campaign_members=members,
        notes=notes,
        transactions=tx,
        customers=conform("customers", customers),
        identity_map=conform("identity_map", identity_map),
        products=conform("products", products),
        locations=conform("locations", locations),
        inventory=conform("inventory", inventory) if inventory is not None else empty("inventory"),
        events=ev,
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

PARTITION_KEYS = {"transactions": C.SKU}  # tables written partitioned when large, and by what


def write_frames(
    target: str | Path,
    frames: Mapping[str, pd.DataFrame],
    extra: Mapping[str, str] | None = None,
    partition_rows: int | None = None,
) -> str:
    """Canonical tables written as one set (:func:`src.outputs.files.write_frames`), the
    ``PARTITION_KEYS`` tables partitioned when larger than ``partition_rows``."""
    return _write_set(target, frames, extra, partition_rows, PARTITION_KEYS)


ROW_ORDER = {  # as ``assemble`` writes them
    "transactions": [C.TS, C.ORDER_ID, C.LINE],
    "events": [C.TS, C.CUSTOMER_ID, C.EVENT],
    "campaigns": [C.START, C.CAMPAIGN_ID],
    "campaign_members": [C.CAMPAIGN_ID, C.GROUP, C.CUSTOMER_ID],
}


def read_table(
    folder: str | Path, name: str, columns: list[str] | None = None, files: list[Path] | None = None
) -> pd.DataFrame:
    """Canonical table ``name`` (or the given part ``files`` of it), with contract dtypes."""
    if files is None:
        check_complete(folder, [name])
        files = table_files(folder, name)
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
    missing = [c for c in ADDED_COLUMNS.get(name, ()) if c in dtypes and c not in frame]
    if missing:  # written before the table gained them
        frame = frame.assign(**{c: None for c in missing})
    return frame[list(dtypes)].astype(dtypes)


def read_tables(source: str | Path) -> CanonicalTables:
    source = Path(source)
    present = [n for n in C.TABLES if n not in C.OPTIONAL_TABLES or table_files(source, n)]
    check_complete(source, present)
    missing = [n for n in C.TABLES if table_files(source, n) is None and n not in C.OPTIONAL_TABLES]
    if missing:
        raise FileNotFoundError(
            f"{source}: canonical tables {missing} not found; run `python -m pipelines.ingest` first"
        )
    # checked once above: read each table's files without re-reading _tables.json and footers
    frames = {n: read_table(source, n, files=table_files(source, n)) for n in present}
    return CanonicalTables(**frames)


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
