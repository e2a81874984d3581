"""UCI Online Retail (id 352) and Online Retail II (id 502), CC BY 4.0, Daqing Chen.

Both spellings of the columns are understood (``InvoiceNo/Invoice``, ``UnitPrice/Price``,
``CustomerID/Customer ID``). Invoices starting with ``C`` are cancellations, kept as returns;
``A`` invoices are accounting adjustments; negative lines on ordinary invoices (all priced 0 in
the data: "damaged", "lost", "found") are stock adjustments. ``Country`` (the ship-to market of
this single online shop) becomes the location dimension, so SKU x location panels exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pyarrow.parquet as pq

from src.features import columns as C
from src.features.catalog import UCI_NON_MERCHANDISE
from src.features.ingest import IngestOptions, IngestResult, ingest
from src.features.transactions import SourceSpec

SOURCE = "online_retail"
SPELLINGS = {
    C.ORDER_ID: ("InvoiceNo", "Invoice"),
    C.SKU: ("StockCode",),
    C.NAME: ("Description",),
    C.QTY: ("Quantity",),
    C.TS: ("InvoiceDate",),
    C.UNIT_PRICE: ("UnitPrice", "Price"),
    C.CUSTOMER_ID: ("CustomerID", "Customer ID"),
    C.LOCATION_ID: ("Country",),
}


def file_columns(path: Path) -> list[str]:
    if path.suffix.lower() in (".parquet", ".pq"):
        return list(pq.read_schema(path).names)
    with open(path, encoding="utf-8", errors="replace") as fh:
        return [c.strip().strip('"') for c in fh.readline().rstrip("\n").split(",")]


def column_mapping(columns: Sequence[str]) -> dict[str, str]:
    """Canonical -> source column for whichever spelling the file uses."""
    mapping = {}
    for canonical, names in SPELLINGS.items():
        found = [n for n in names if n in columns]
        # a missing column is left to require_columns, which names the file and the columns found
        mapping[canonical] = found[0] if found else names[0]
    mapping[C.COUNTRY] = mapping[C.LOCATION_ID]
    return mapping


def sources(files: Sequence[Mapping], root: Path | str = ".") -> list[SourceSpec]:
    """One SourceSpec per file; ``files`` items: ``{path, until?}`` in time order."""
    specs = []
    for item in files:
        path = Path(root) / item["path"]
        # a missing file gets the first spelling; read_table then reports the missing file
        columns = column_mapping(file_columns(path) if path.exists() else [])
        specs.append(
            SourceSpec(
                name=SOURCE,
                path=path,
                columns=columns,
                channel="web",
                customer_id_is_member_id=True,
                until=item.get("until"),
                cancellation_prefix="C",
                adjustment_prefix="A",
                negative_qty_without_prefix=C.LINE_ADJUSTMENT,
                location_from_text=True,
            )
        )
    return specs


def load(
    files: Sequence[Mapping], root: Path | str = "data/raw", options: IngestOptions | None = None
) -> IngestResult:
    """Ingest the UCI files (see ``conf/data/online_retail.yaml``)."""
    return ingest(sources(files, root), options, non_merchandise=UCI_NON_MERCHANDISE)
