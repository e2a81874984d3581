"""Any CSV or Parquet transactions export, mapped by configuration alone.

Required mappings: ``order_id, sku, ts, qty`` and one of ``unit_price`` / ``revenue``
(``unit_price = revenue / qty``). Everything else is optional; unmapped columns get these
defaults (also in ``conf/data/generic.yaml``):

=============== ==========================================================
column          default when not mapped
=============== ==========================================================
line            1, 2, ... in file order within each order
customer_id     null (anonymous)
channel         ``data.default_values.channel`` ("unknown")
location_id     ``data.default_values.location_id`` ("default")
promo           false
name, category  from the file if mapped, else null / derived from the name
=============== ==========================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from src.features.campaigns import campaign_specs
from src.features.events import event_specs
from src.features.ingest import IngestOptions, IngestResult, InventorySpec, ingest
from src.features.locations import LocationSpec
from src.features.transactions import SourceSpec


def source(
    path: str | Path,
    columns: Mapping[str, str | None],
    *,
    name: str = "generic",
    default_values: Mapping | None = None,
    ts_format: str | None = None,
    dayfirst: bool | None = None,
    ts_unit: str | None = None,
    tz: str | None = None,
    sep: str | None = None,
    encoding: str | None = None,
    decimal: str | None = None,
    customer_id_is_member_id: bool = True,
) -> SourceSpec:
    defaults = dict(default_values or {})
    return SourceSpec(
        name=name,
        path=Path(path),
        columns={k: v for k, v in columns.items() if v},
        channel=defaults.get("channel", "unknown"),
        location_id=defaults.get("location_id", "default"),
        ts_format=ts_format,
        dayfirst=dayfirst,
        ts_unit=ts_unit,
        tz=tz,
        sep=sep,
        encoding=encoding,
        decimal=decimal,
        customer_id_is_member_id=customer_id_is_member_id,
    )


def inventory_spec(
    path: str | Path | None, columns: Mapping[str, str | None], as_of: str | None = None
) -> InventorySpec | None:
    if not path:
        return None
    return InventorySpec(
        path=Path(path), columns={k: v for k, v in columns.items() if v}, as_of=as_of
    )


def load(
    path: str | Path,
    columns: Mapping[str, str | None],
    *,
    inventory: Mapping | None = None,
    events: Sequence[Mapping] | Mapping | None = None,
    campaigns: Sequence[Mapping] | Mapping | None = None,
    locations: Mapping | None = None,
    options: IngestOptions | None = None,
    non_merchandise: Mapping[str, str] | None = None,
    **source_options,
) -> IngestResult:
    """Ingest one export (see ``conf/data/generic.yaml``); ``source_options`` go to :func:`source`.

    ``events``: engagement-event files (``conf/data/generic.yaml``: ``events``), each with its
    own column mapping and event labels; their customer ids are resolved with the export's.
    ``campaigns``: campaign files with their members files (``conf/data/generic.yaml``);
    ``locations``: a locations file (types, regions, lead times, routing attributes)."""
    spec = source(path, columns, **source_options)
    inv = dict(inventory or {})
    loc = dict(locations or {})
    inv_spec = inventory_spec(inv.get("path"), inv.get("columns") or {}, inv.get("as_of"))
    return ingest(
        [spec], options, inventory=inv_spec, events=event_specs(events),
        campaigns=campaign_specs(campaigns),
        locations_file=LocationSpec(loc["path"], loc.get("columns") or {}, sep=loc.get("sep"),
                                    encoding=loc.get("encoding")) if loc.get("path") else None,
        non_merchandise=dict(non_merchandise or {}),
    )  # fmt: skip
