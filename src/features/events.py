"""Engagement events (views, carts, wishlists, coupons, campaign exposures) from any export.

An :class:`EventSpec` maps one file onto the canonical events table
(``customer_id, ts, event, sku, channel, source``) the way a :class:`SourceSpec` maps
transactions: by configuration, validated at the boundary, every rejected row reported with
its file, row, column and rule. ``labels`` map the export's own event names onto the canonical
ones (``{"PageView": "view", "Basket": "add_to_cart"}``); names outside
:data:`src.features.columns.EVENT_TYPES` (plus ``extra_types``) are rejected (``unknown_event``).

Customer ids are the source's own; :func:`src.features.tables.assemble` resolves them with the
transactions' ids into One-ID (email / phone / member id link them, hashed like everywhere
else), so a customer who only ever browsed still gets one id — the Awareness and Interest stages
of AIPL need exactly those customers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from src.features import columns as C
from src.features.transactions import check_mapping, config_blocks, open_mapped
from src.features.validation import (
    Rejects,
    normalise_ids,
    on_distinct,
    other_format,
    parse_timestamps,
)

REQUIRED = (C.CUSTOMER_ID, C.TS, C.EVENT)
OPTIONAL = (C.SKU, C.CHANNEL, C.MEMBER_ID, C.EMAIL, C.PHONE)


@dataclass
class EventSpec:
    """How one events file maps onto the canonical events table."""

    name: str  # the source: its customer ids are resolved as ids of this source (One-ID)
    path: Path
    columns: dict[str, str]  # canonical name -> source column name
    labels: dict[str, str] = field(default_factory=dict)  # export label -> canonical event
    extra_types: tuple[str, ...] = ()  # further canonical event names this brand records
    channel: str = "unknown"  # used when no channel column is mapped
    ts_format: str | None = None
    dayfirst: bool | None = None
    ts_unit: str | None = None
    tz: str | None = None
    sep: str | None = None
    encoding: str | None = None

    def __post_init__(self):
        self.path = Path(self.path)
        self.columns = {k: v for k, v in dict(self.columns).items() if v}
        self.labels = {str(k): str(v) for k, v in dict(self.labels or {}).items()}
        self.extra_types = tuple(self.extra_types or ())
        check_mapping(f"events '{self.name}'", self.columns, REQUIRED, OPTIONAL)
        bad = sorted(set(self.labels.values()) - set(self.types))
        if bad:
            raise ValueError(
                f"events '{self.name}': labels map onto {bad}, not canonical event names "
                f"{list(self.types)} (add them to extra_types)"
            )

    @property
    def types(self) -> tuple[str, ...]:
        return (*C.EVENT_TYPES, *self.extra_types)


def canonical_events(
    spec: EventSpec,
    rejects: Rejects,
    max_ts: pd.Timestamp,
    raw: pd.DataFrame | None = None,
    min_ts: pd.Timestamp | None = None,
    max_id_length: int | None = None,
) -> pd.DataFrame:
    """Parse, check and canonicalise one events file; rejected rows go to ``rejects``.

    Returns the kept events (``customer_id`` still the source's own id) with ``source`` and,
    where mapped, the identity attributes (``member_id``, ``email``, ``phone``)."""
    file = str(spec.path)
    raw, col, reject, bad = open_mapped(spec, rejects, raw)

    out = pd.DataFrame(index=raw.index)
    out[C.SOURCE] = spec.name
    cid = normalise_ids(raw[col[C.CUSTOMER_ID]])[0]
    reject(cid.isna().to_numpy(), col[C.CUSTOMER_ID], "missing_customer_id",
           raw[col[C.CUSTOMER_ID]])  # fmt: skip
    out[C.CUSTOMER_ID] = cid.astype(object)
    if max_id_length:
        for key in (C.CUSTOMER_ID, C.SKU):
            if key in col:
                length = on_distinct(raw[col[key]], lambda v: v.astype("string").str.len())
                shown = raw[col[key]].astype(str).str.slice(0, 40) + "…"
                reject((length.fillna(0) > max_id_length).to_numpy(), col[key], "id_too_long",
                       shown)  # fmt: skip

    ts = parse_timestamps(raw[col[C.TS]], spec.ts_format, spec.tz, dayfirst=spec.dayfirst,
                          unit=spec.ts_unit, file=file, column=col[C.TS])  # fmt: skip
    bad_ts = (ts.isna() & raw[col[C.TS]].notna()).to_numpy()
    mixed = np.zeros(len(raw), dtype=bool)
    if bad_ts.any() and spec.ts_unit is None:
        mixed[bad_ts] = other_format(raw[col[C.TS]][bad_ts]).to_numpy()
    reject(mixed, col[C.TS], "mixed_timestamp_format", raw[col[C.TS]])
    reject(bad_ts & ~mixed, col[C.TS], "unparseable_timestamp", raw[col[C.TS]])
    reject(ts.isna().to_numpy(), col[C.TS], "missing_timestamp", raw[col[C.TS]])
    late = (ts > max_ts).to_numpy()
    early = (ts < min_ts).to_numpy() if min_ts is not None else np.zeros(len(raw), dtype=bool)
    reject(late, col[C.TS], "timestamp_in_future", raw[col[C.TS]])
    reject(early, col[C.TS], "timestamp_before_min_date", raw[col[C.TS]])
    out[C.TS] = ts

    label = raw[col[C.EVENT]].astype("string").str.strip()
    event = label.map(lambda v: spec.labels.get(v, v) if pd.notna(v) else v)
    reject((~event.isin(spec.types)).to_numpy(), col[C.EVENT], "unknown_event", raw[col[C.EVENT]])
    out[C.EVENT] = event.astype(object)

    out[C.SKU] = (
        raw[col[C.SKU]].astype("string").str.strip().replace("", pd.NA).astype(object)
        if C.SKU in col
        else None
    )
    out[C.CHANNEL] = (
        raw[col[C.CHANNEL]].astype("string").str.strip().fillna(spec.channel).astype(object)
        if C.CHANNEL in col
        else spec.channel
    )
    for key in (C.MEMBER_ID, C.EMAIL, C.PHONE):
        if key in col:
            out[key] = raw[col[key]].astype("string").astype(object)
    dup = out.duplicated([C.CUSTOMER_ID, C.TS, C.EVENT, C.SKU]).to_numpy()
    reject(dup, col[C.EVENT], "duplicate_event", raw[col[C.EVENT]])
    return out[~bad].reset_index(drop=True)


def events_spec(entry: Mapping, default_name: str = "events") -> EventSpec:
    """An :class:`EventSpec` from a config block (``data.events`` entries)."""
    e = dict(entry)
    return EventSpec(
        name=e.get("name") or default_name,
        path=Path(e["path"]),
        columns=dict(e.get("columns") or {}),
        labels=dict(e.get("labels") or {}),
        extra_types=tuple(e.get("extra_types") or ()),
        channel=e.get("channel") or "unknown",
        ts_format=e.get("ts_format"),
        dayfirst=e.get("dayfirst"),
        ts_unit=e.get("ts_unit"),
        tz=e.get("tz"),
        sep=e.get("sep"),
        encoding=e.get("encoding"),
    )


def event_specs(entries: Sequence[Mapping] | Mapping | None) -> list[EventSpec]:
    return [events_spec(e) for e in config_blocks(entries)]
