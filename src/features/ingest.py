"""Ingestion: sources -> validated canonical tables + rejects report + ingest report.

``ingest`` runs every :class:`SourceSpec` through ``canonical_lines``, stops with a clear error when
a file is mostly bad (a mapping mistake), assembles the canonical tables and checks an optional
inventory file against them. ``write_ingest`` writes it all to one folder, atomically.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from src.features import columns as C
from src.features.campaigns import CampaignSpec, canonical_campaigns, canonical_members
from src.features.events import EventSpec, canonical_events
from src.features.locations import LocationSpec, canonical_locations, merge_locations
from src.features.tables import (
    CanonicalTables,
    assemble,
    conform,
    fingerprint,
    summary_counts,
    write_frames,
)
from src.features.transactions import SourceSpec, canonical_lines
from src.features.validation import (
    DataValidationError,
    Rejects,
    examples_of,
    inventory_schema,
    parse_numbers,
    parse_timestamps,
    raise_if_too_many,
    read_table,
    require_columns,
    schema_failures,
)
from src.outputs.csv import to_csv

log = logging.getLogger(__name__)


@dataclass
class InventorySpec:
    """An on-hand / on-order snapshot file and its column mapping (canonical -> source)."""

    path: Path
    columns: dict[str, str]
    as_of: str | None = None  # used when no as_of column is mapped

    def __post_init__(self):
        self.path = Path(self.path)
        self.columns = {k: v for k, v in dict(self.columns).items() if v}
        missing = [c for c in (C.LOCATION_ID, C.SKU, C.ON_HAND) if c not in self.columns]
        if missing:
            raise ValueError(f"inventory {self.path}: no source column mapped for {missing}")
        if C.AS_OF not in self.columns and not self.as_of:
            raise ValueError(f"inventory {self.path}: map an 'as_of' column or give as_of=DATE")


@dataclass
class IngestOptions:
    """Options shared by every adapter (``ingest:`` in ``conf/ingest.yaml``)."""

    max_reject_fraction: float = 0.5
    max_future_days: float = 1
    min_date: str | None = "1990-01-01"  # earlier timestamps are export accidents: rejected
    max_abs_qty: float | None = 1e6  # plausibility bounds: larger values are rejected
    max_unit_price: float | None = 1e6
    max_id_length: int | None = 256  # longer order / SKU / customer / location ids are rejected
    # a secret: set by the pipeline from identity.identity_salt(), never from config
    identity_salt: str = ""
    default_country_code: str = "44"
    lead_time_days: float = 7.0
    min_skus_per_category: int = 10
    # transactions with more rows than this are written as a folder of SKU partitions of about
    # this many rows each (tables.write_frames); None or 0: always one file
    partition_rows: int | None = 5_000_000

    @property
    def min_ts(self) -> pd.Timestamp | None:
        return pd.Timestamp(self.min_date) if self.min_date else None

    @property
    def max_ts(self) -> pd.Timestamp:
        return pd.Timestamp.now().normalize() + pd.Timedelta(days=self.max_future_days)


@dataclass
class IngestResult:
    tables: CanonicalTables
    rejects: pd.DataFrame
    report: dict = field(default_factory=dict)
    options: IngestOptions | None = None


def canonical_inventory(
    spec: InventorySpec,
    products: pd.DataFrame,
    locations: pd.DataFrame,
    rejects: Rejects,
    raw: pd.DataFrame | None = None,
) -> pd.DataFrame:
    file = str(spec.path)
    raw = (read_table(spec.path) if raw is None else raw).reset_index(drop=True)
    require_columns(raw, file, spec.columns)
    rejects.counts_in[file] = len(raw)
    col = spec.columns
    inv = pd.DataFrame(
        {
            C.LOCATION_ID: raw[col[C.LOCATION_ID]].astype("string").str.strip().astype(object),
            C.SKU: raw[col[C.SKU]].astype("string").str.strip().astype(object),
            C.AS_OF: parse_timestamps(raw[col[C.AS_OF]], file=file, column=col[C.AS_OF])
            if C.AS_OF in col
            else pd.Timestamp(spec.as_of),
            C.ON_HAND: parse_numbers(raw[col[C.ON_HAND]]),
            C.ON_ORDER: parse_numbers(raw[col[C.ON_ORDER]]) if C.ON_ORDER in col else 0.0,
        }
    )
    inv[C.AS_OF] = inv[C.AS_OF].astype("datetime64[ns]")
    mapped_raw = raw[list(dict.fromkeys(col.values()))]
    schema = inventory_schema(
        products[C.SKU].astype(object), locations[C.LOCATION_ID].astype(object)
    )
    failures = schema_failures(inv, schema)
    for (column, rule), grp in failures.groupby([C.REJECT_COLUMN, C.REJECT_RULE]):
        rows = grp["index"].to_numpy()
        rejects.add(
            file,
            rows,
            col.get(column, column),
            rule,
            grp[C.REJECT_VALUE],
            raw=mapped_raw.iloc[rows],
        )
    keep = np.ones(len(inv), dtype=bool)
    keep[rejects.rejected_rows(file)] = False
    inv[C.ON_ORDER] = inv[C.ON_ORDER].fillna(0.0)
    return inv[keep]


def ingest(
    sources: Sequence[SourceSpec],
    options: IngestOptions | None = None,
    *,
    inventory: InventorySpec | None = None,
    events: Sequence[EventSpec] = (),
    campaigns: Sequence[CampaignSpec] = (),
    locations_file: LocationSpec | None = None,
    raw_frames: Mapping[str, pd.DataFrame] | None = None,
    **assemble_options,
) -> IngestResult:
    """Validate and canonicalise ``sources``; ``raw_frames`` (by path) skips reading those files.

    ``assemble_options`` go to :func:`src.features.tables.assemble` (e.g. ``products``,
    ``locations``, ``non_merchandise``).
    """
    options = options or IngestOptions()
    max_ts = options.max_ts
    rejects = Rejects()
    parts = []
    for spec in sources:
        log.info("reading %s (%s)", spec.path, spec.name)
        raw = raw_frames.get(str(spec.path)) if raw_frames else None
        lines = canonical_lines(
            spec,
            rejects,
            max_ts,
            raw=raw,
            min_ts=options.min_ts,
            max_abs_qty=options.max_abs_qty,
            max_unit_price=options.max_unit_price,
            max_id_length=options.max_id_length,
        )
        log.info(
            "  %s: %d rows in, %d kept", spec.path, rejects.counts_in[str(spec.path)], len(lines)
        )
        parts.append(lines)
    event_parts = []
    for spec in events:
        log.info("reading events %s (%s)", spec.path, spec.name)
        raw = raw_frames.get(str(spec.path)) if raw_frames else None
        kept = canonical_events(
            spec, rejects, max_ts, raw=raw, min_ts=options.min_ts,
            max_id_length=options.max_id_length,
        )  # fmt: skip
        log.info("  %s: %d events in, %d kept", spec.path, rejects.counts_in[str(spec.path)],
                 len(kept))  # fmt: skip
        event_parts.append(kept)
    campaign_parts, member_parts = [], []
    for spec in campaigns:
        log.info("reading campaigns %s and members %s (%s)", spec.path, spec.members.path,
                 spec.name)  # fmt: skip
        raw = raw_frames.get(str(spec.path)) if raw_frames else None
        kept = canonical_campaigns(spec, rejects, raw=raw)
        campaign_parts.append(kept)
        raw = raw_frames.get(str(spec.members.path)) if raw_frames else None
        member_parts.append(canonical_members(spec.members, rejects, kept[C.CAMPAIGN_ID], raw=raw))
        log.info("  %d campaigns, %d members kept", len(kept), len(member_parts[-1]))
    campaign_files = [f for s in campaigns for f in (s, s.members)]
    frame = rejects.to_frame()
    for spec in [*sources, *events, *campaign_files]:
        raise_if_too_many(
            frame, str(spec.path), rejects.counts_in[str(spec.path)], options.max_reject_fraction
        )
    lines = pd.concat(parts, ignore_index=True)
    if lines.empty:
        raise DataValidationError(
            ", ".join(str(s.path) for s in sources),
            "non_empty",
            "no valid rows left after validation",
            examples=examples_of(frame, frame[C.REJECT_RULE].iat[0]) if len(frame) else None,
        )
    member_sources = tuple(s.name for s in sources if s.customer_id_is_member_id)
    assemble_options = {
        "identity_salt": options.identity_salt,
        "default_country_code": options.default_country_code,
        "lead_time_days": options.lead_time_days,
        "min_skus_per_category": options.min_skus_per_category,
        **assemble_options,
    }
    event_lines = pd.concat(event_parts, ignore_index=True) if event_parts else None
    if campaign_parts:
        assemble_options["campaigns"] = pd.concat(campaign_parts, ignore_index=True)
        assemble_options["campaign_members"] = pd.concat(member_parts, ignore_index=True)
    tables = assemble(
        lines, member_id_sources=member_sources, events=event_lines, **assemble_options
    )
    if locations_file is not None:  # before the inventory, which checks its locations
        given = canonical_locations(locations_file, rejects)
        tables.locations = conform("locations", merge_locations(tables.locations, given))
        frame = rejects.to_frame()
        raise_if_too_many(frame, str(locations_file.path), rejects.counts_in[str(locations_file.path)],
                          options.max_reject_fraction)  # fmt: skip
    if inventory is not None:
        raw_inv = raw_frames.get(str(inventory.path)) if raw_frames else None
        inv = canonical_inventory(inventory, tables.products, tables.locations, rejects, raw_inv)
        tables.inventory = conform("inventory", inv)
        frame = rejects.to_frame()
    paths = [s.path for s in sources] + ([inventory.path] if inventory is not None else [])
    paths += [e.path for e in events] + [f.path for f in campaign_files]
    paths += [locations_file.path] if locations_file is not None else []
    files = [p for p in paths if p.is_file()]
    report = build_report(tables, frame, rejects.counts_in, fingerprint(files) if files else None)
    return IngestResult(tables=tables, rejects=frame, report=report, options=options)


def build_report(
    tables: CanonicalTables,
    rejects: pd.DataFrame,
    counts_in: Mapping[str, int],
    data_fingerprint: str | None,
) -> dict:
    per_file = {}
    for file, n_in in counts_in.items():
        n_rej = int((rejects[C.REJECT_FILE] == file).sum()) if len(rejects) else 0
        per_file[file] = {
            "rows_in": int(n_in),
            "rows_kept": int(n_in) - n_rej,
            "rows_rejected": n_rej,
        }
    by_rule = {}
    if len(rejects):
        for rule, n in rejects[C.REJECT_RULE].value_counts().items():
            ex = examples_of(rejects, rule, 3)
            by_rule[rule] = {"rows": int(n), "example_rows": ex.reset_index().to_dict("records")}
    report = {
        "data_fingerprint": data_fingerprint,
        "files": per_file,
        "rejects_by_rule": by_rule,
        "summary": summary_counts(tables.transactions),
        "products": {
            "skus": int(len(tables.products)),
            "non_merchandise": int((~tables.products[C.IS_MERCHANDISE]).sum()),
        },
        "locations": int(len(tables.locations)),
        "inventory_rows": int(len(tables.inventory)),
    }
    if len(tables.campaigns):
        members = tables.campaign_members
        report["campaigns"] = {
            "campaigns": int(len(tables.campaigns)),
            "members": int(len(members)),
            "members_by_group": {
                str(k): int(v) for k, v in members[C.GROUP].value_counts().items()
            },
            **tables.notes,
        }
    if tables.identity_report is not None:
        ir = tables.identity_report
        report["identity"] = {
            "source_ids": ir.n_source_ids,
            "source_ids_by_source": ir.by_source,
            "customers": ir.n_customers,
            "merged_customers": ir.n_merged_customers,
            "source_ids_merged": ir.n_source_ids_merged,
            "merges_by_rule": ir.merges_by_rule,
            "source_ids_per_customer": ir.source_ids_per_customer,
        }
    return report


def write_ingest(result: IngestResult, output: str | Path) -> Path:
    """Tables as Parquet, ``rejects.csv`` (one row per rejected source row), ``ingest_report.json``.

    Transactions above ``options.partition_rows`` rows become a folder of SKU partitions, which
    the feature store builds demand panels from one partition per task."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    frames = result.tables.frames()
    partition_rows = result.options.partition_rows if result.options is not None else None
    n = len(result.tables.transactions)
    if partition_rows and n > partition_rows:
        log.info(
            "transactions: %d rows > ingest.partition_rows=%d: written as %d SKU partitions",
            n,
            partition_rows,
            -(-n // partition_rows),
        )
    write_frames(
        output,
        frames,
        {
            "rejects.csv": to_csv(result.rejects),
            "ingest_report.json": json.dumps(result.report, indent=2, default=str),
        },
        partition_rows=partition_rows,
    )
    return output


def run_ingest(config: Mapping) -> dict:
    """`make ingest`: the configured data source (``data``) through validation into the canonical
    tables; prints the summary, returns the ingest report."""
    from hydra.utils import instantiate

    from src.features.identity import identity_salt
    from src.features.report import format_ingest_summary

    options = IngestOptions(**config["ingest"], identity_salt=identity_salt())
    result = instantiate(config["data"], _partial_=True)(options=options)
    output = write_ingest(result, config["paths"]["output"])
    print(format_ingest_summary(result.report, output), flush=True)
    return result.report
