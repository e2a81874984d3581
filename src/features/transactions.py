"""From one raw transactions export to canonical lines, with every rejected row accounted for.

All transaction adapters (UCI Online Retail, generic CSV/Parquet, synthetic) describe their file
with a :class:`SourceSpec` (which source column means which canonical column, plus defaults) and
go through :func:`canonical_lines`. Identity resolution, product classification and return
linking happen later, on all sources together (see ``src.features.tables``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from src.features import columns as C
from src.features.validation import (
    Rejects,
    duplicate_rows,
    normalise_ids,
    on_distinct,
    other_format,
    parse_numbers,
    parse_timestamps,
    read_table,
    require_columns,
    schema_failures,
    transactions_schema,
)

# canonical names an export may map; either unit_price or revenue gives the price
REQUIRED = (C.ORDER_ID, C.SKU, C.TS, C.QTY)
OPTIONAL = (
    C.LINE,
    C.CUSTOMER_ID,
    C.CHANNEL,
    C.LOCATION_ID,
    C.UNIT_PRICE,
    "revenue",
    C.PROMO,
    C.NAME,
    C.CATEGORY,
    C.SUBCATEGORY,
    C.UNIT_COST,
    C.MEMBER_ID,
    C.EMAIL,
    C.PHONE,
    C.COUNTRY,
)
TRUTHY = {"1", "true", "t", "yes", "y"}
PERSONAL = (C.EMAIL, C.PHONE)  # hashed for One-ID, never written or logged as given
REDACTED = "<redacted>"


def redact(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """``frame`` with the given (personal) columns' values replaced by ``<redacted>``."""
    hit = [c for c in frame.columns if c in set(columns)]
    if not hit:
        return frame
    out = frame.copy()
    for c in hit:
        out[c] = out[c].where(out[c].isna(), REDACTED)
    return out


@dataclass
class SourceSpec:
    """How one raw transactions file maps onto the canonical transactions table."""

    name: str
    path: Path
    columns: dict[str, str]  # canonical name -> source column name
    channel: str = "unknown"  # used when no channel column is mapped
    location_id: str = "default"  # used when no location column is mapped
    ts_format: str | None = None  # strftime format; None = one format inferred for the column
    dayfirst: bool | None = None  # settles 03/01/2024 (3 January) when the format is inferred
    ts_unit: str | None = None  # epoch timestamps: s | ms | us | ns (numbers are refused without)
    sep: str | None = None  # CSV separator (None: ",")
    encoding: str | None = None  # CSV encoding (None: utf-8)
    decimal: str | None = None  # decimal mark of numbers written as text ("," in 2,5)
    tz: str | None = None  # tz-aware sources are converted to this zone, then made naive
    customer_id_is_member_id: bool = True  # the export's customer key is the brand-wide member id
    until: str | None = None  # rows at/after this time are copies of a later source
    cancellation_prefix: str | None = None  # order ids starting with it are returns ("C" in UCI)
    adjustment_prefix: str | None = None  # order ids starting with it are adjustments ("A")
    negative_qty_without_prefix: str = C.LINE_RETURN  # or "adjustment" (UCI stock write-offs)
    location_from_text: bool = False  # slugify location names ("United Kingdom" -> united_kingdom)

    def __post_init__(self):
        self.path = Path(self.path)
        self.columns = {k: v for k, v in dict(self.columns).items() if v}
        check_mapping(f"source '{self.name}'", self.columns, REQUIRED, OPTIONAL)
        if C.UNIT_PRICE not in self.columns and "revenue" not in self.columns:
            raise ValueError(f"source '{self.name}': map either 'unit_price' or 'revenue'")


def row_rejecter(rejects: Rejects, file: str, raw: pd.DataFrame, columns: Mapping[str, str]):
    """``reject(mask, column, rule, values)`` for one file and the ``bad`` mask it fills: one
    reason per row (the first found), personal columns shown redacted."""
    rows = np.arange(len(raw), dtype="int64")
    personal = {columns[k] for k in PERSONAL if k in columns}
    mapped_raw = redact(raw[list(dict.fromkeys(columns.values()))], personal)
    bad = np.zeros(len(raw), dtype=bool)

    def reject(mask, column: str, rule: str, values) -> None:
        mask = np.asarray(mask, dtype=bool) & ~bad
        if mask.any():
            vals = np.asarray(values)[mask]
            if column in personal:
                vals = np.where(pd.isna(vals), vals, REDACTED)
            rejects.add(file, rows[mask], column, rule, vals, raw=mapped_raw[mask])
            bad[mask] = True

    return reject, bad


def open_mapped(spec, rejects: Rejects, raw: pd.DataFrame | None = None):
    """A mapped file (``spec``: path, columns, sep, encoding) read unless given, its mapped
    columns checked, its rows counted in: ``(raw, columns, reject, bad)``."""
    file = str(spec.path)
    if raw is None:
        raw = read_table(spec.path, sep=spec.sep, encoding=spec.encoding)
    raw = raw.reset_index(drop=True)
    require_columns(raw, file, spec.columns)
    rejects.counts_in[file] = rejects.counts_in.get(file, 0) + len(raw)
    reject, bad = row_rejecter(rejects, file, raw, spec.columns)
    return raw, spec.columns, reject, bad


def config_blocks(entries) -> list:
    """The file blocks of a config list (``data.events``, ``data.campaigns``): one block or a
    list of them; blocks without a ``path`` are skipped."""
    if not entries:
        return []
    if isinstance(entries, Mapping):
        entries = [entries]
    return [e for e in entries if e and e.get("path")]


def check_mapping(what: str, columns, required, optional) -> None:
    """A column mapping names only canonical columns, and every required one."""
    unknown = set(columns) - set(required) - set(optional)
    if unknown:
        raise ValueError(
            f"{what}: unknown canonical column(s) {sorted(unknown)}; "
            f"mappable: {list(required) + list(optional)}"
        )
    missing = [c for c in required if c not in columns]
    if missing:
        raise ValueError(f"{what}: no source column mapped for {missing}")


def slug(text: pd.Series) -> pd.Series:
    return (
        text.astype("string")
        .str.strip()
        .str.lower()
        .str.replace(r"[^0-9a-z]+", "_", regex=True)
        .str.strip("_")
    )


def _text(raw: pd.Series) -> pd.Series:
    def strip(values: pd.Series) -> pd.Series:
        out = values.astype("string").str.strip()
        return out.mask(out == "")

    return on_distinct(raw, strip)


def canonical_lines(
    spec: SourceSpec,
    rejects: Rejects,
    max_ts: pd.Timestamp,
    raw: pd.DataFrame | None = None,
    min_ts: pd.Timestamp | None = None,
    max_abs_qty: float | None = None,
    max_unit_price: float | None = None,
    max_id_length: int | None = None,
) -> pd.DataFrame:
    """Parse, check and canonicalise one file; rejected rows go to ``rejects``.

    Returns the kept lines with the canonical transaction columns (``customer_id`` still the
    source's own id) plus, where mapped, product and identity attributes, and ``source_row``.
    """
    file = str(spec.path)
    if raw is None:
        raw = read_table(spec.path, sep=spec.sep, encoding=spec.encoding)
    require_columns(raw, file, spec.columns)
    rejects.counts_in[file] = rejects.counts_in.get(file, 0) + len(raw)
    col = spec.columns
    source_row = np.arange(len(raw), dtype="int64")
    raw = raw.reset_index(drop=True)
    # what travels with a reject (rejects.csv, the report, error messages, logs): the mapped
    # raw columns, personal ones redacted — only salted hashes of them are ever stored
    personal = {col[k] for k in PERSONAL if k in col}
    mapped_raw = redact(raw[list(dict.fromkeys(col.values()))], personal)

    def reject(mask: pd.Series | np.ndarray, column: str, rule: str, values) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            vals = np.asarray(values)[mask]
            if column in personal:
                vals = np.where(pd.isna(vals), vals, REDACTED)
            rejects.add(file, source_row[mask], column, rule, vals, raw=mapped_raw[mask])

    out = pd.DataFrame(index=raw.index)
    out[C.ORDER_ID] = normalise_ids(raw[col[C.ORDER_ID]])[0].astype(object)
    out[C.SKU] = _text(raw[col[C.SKU]]).astype(object)
    if max_id_length:  # a 1 MB "SKU" is a broken export, not a product
        for key in (C.ORDER_ID, C.SKU, C.CUSTOMER_ID, C.LOCATION_ID):
            if key in col:
                length = on_distinct(raw[col[key]], lambda v: v.astype("string").str.len())
                long = (length.fillna(0) > max_id_length).to_numpy()
                if long.any():  # shown cut short: the report never echoes a megabyte back
                    shown = raw[col[key]].astype(str).str.slice(0, 40) + "…"
                    reject(long, col[key], "id_too_long", shown)

    ts = parse_timestamps(
        raw[col[C.TS]],
        spec.ts_format,
        spec.tz,
        dayfirst=spec.dayfirst,
        unit=spec.ts_unit,
        file=file,
        column=col[C.TS],
    )
    bad_ts = (ts.isna() & raw[col[C.TS]].notna()).to_numpy()
    mixed = np.zeros(len(raw), dtype=bool)
    if bad_ts.any() and spec.ts_unit is None:  # readable, but not in the column's one format
        mixed[bad_ts] = other_format(raw[col[C.TS]][bad_ts]).to_numpy()
    reject(mixed, col[C.TS], "mixed_timestamp_format", raw[col[C.TS]])
    reject(bad_ts & ~mixed, col[C.TS], "unparseable_timestamp", raw[col[C.TS]])
    out[C.TS] = ts

    if spec.until:
        dup = (ts >= pd.Timestamp(spec.until)).to_numpy()
        reject(dup, col[C.TS], "duplicate_across_sources", raw[col[C.TS]])

    def number(column: str) -> pd.Series:
        return parse_numbers(raw[column], spec.decimal)

    qty = number(col[C.QTY])
    reject(qty.isna() & raw[col[C.QTY]].notna(), col[C.QTY], "non_numeric_qty", raw[col[C.QTY]])
    out[C.QTY] = qty

    if C.UNIT_PRICE in col:
        price_raw = raw[col[C.UNIT_PRICE]]
        price = number(col[C.UNIT_PRICE])
    else:
        price_raw = raw[col["revenue"]]
        revenue = number(col["revenue"])
        # exports record a return's amount as negative or positive: take its size; on a sale,
        # a negative amount stays negative (and is rejected as negative_price)
        revenue = revenue.where(qty >= 0, revenue.abs())
        price = revenue / qty.abs().where(qty != 0)
        price = price.where(qty != 0, 0.0).where(revenue.notna())
    price_col = col.get(C.UNIT_PRICE, col.get("revenue"))
    reject(price.isna() & price_raw.notna(), price_col, "non_numeric_price", price_raw)
    out[C.UNIT_PRICE] = price

    if C.CUSTOMER_ID in col:
        ids, bad = normalise_ids(raw[col[C.CUSTOMER_ID]])
        reject(bad, col[C.CUSTOMER_ID], "customer_id_mixed_type", raw[col[C.CUSTOMER_ID]])
        out[C.CUSTOMER_ID] = ids.astype(object)
    else:
        out[C.CUSTOMER_ID] = None

    if C.LINE in col:
        out[C.LINE] = number(col[C.LINE])
        reject(out[C.LINE].isna(), col[C.LINE], "missing_value", raw[col[C.LINE]])
    else:
        out[C.LINE] = out.groupby(C.ORDER_ID, sort=False, dropna=False).cumcount() + 1

    out[C.CHANNEL] = (
        _text(raw[col[C.CHANNEL]]).fillna(spec.channel) if C.CHANNEL in col else spec.channel
    )
    if C.LOCATION_ID in col:
        loc = _text(raw[col[C.LOCATION_ID]])
        out[C.REGION] = loc
        out[C.LOCATION_ID] = (slug(loc) if spec.location_from_text else loc).fillna(
            spec.location_id
        )
    else:
        out[C.LOCATION_ID] = spec.location_id
    out[C.PROMO] = (
        raw[col[C.PROMO]].astype(str).str.strip().str.lower().isin(TRUTHY)
        if C.PROMO in col
        else False
    )
    for extra in (C.NAME, C.CATEGORY, C.SUBCATEGORY, C.MEMBER_ID, C.EMAIL, C.PHONE, C.COUNTRY):
        if extra in col:
            out[extra] = _text(raw[col[extra]]).astype(object)
    if C.UNIT_COST in col:
        out[C.UNIT_COST] = number(col[C.UNIT_COST])

    # line type from the order id's prefix and the sign of the quantity
    order = out[C.ORDER_ID].astype("string")
    line_type = np.where(qty < 0, spec.negative_qty_without_prefix, C.LINE_SALE).astype(object)
    if spec.cancellation_prefix:
        cancel = order.str.startswith(spec.cancellation_prefix).fillna(False).to_numpy()
        line_type[cancel] = C.LINE_RETURN
        reject(
            cancel & (qty > 0).to_numpy(),
            col[C.QTY],
            "cancellation_with_positive_qty",
            raw[col[C.QTY]],
        )
    if spec.adjustment_prefix:
        adjust = order.str.startswith(spec.adjustment_prefix).fillna(False).to_numpy()
        line_type[adjust] = C.LINE_ADJUSTMENT
    out[C.LINE_TYPE] = line_type

    # value rules (pandera): missing values, prices, zero quantity, future ts, duplicate lines
    if C.LINE in col:
        unique = list(C.TRANSACTIONS_KEY)
    else:  # no line numbers in the source: a line identical in every field is a duplicate
        unique = [c for c in (C.ORDER_ID, C.SKU, C.TS, C.QTY, C.UNIT_PRICE, C.CUSTOMER_ID)]
    dup = duplicate_rows(out, unique).to_numpy()
    reject(dup, "+".join(col.get(c, c) for c in unique), "duplicate_order_line", out[C.ORDER_ID])
    checked = out[[C.ORDER_ID, C.SKU, C.TS, C.QTY, C.UNIT_PRICE]]
    failures = schema_failures(
        checked, transactions_schema(max_ts, min_ts, max_abs_qty, max_unit_price)
    )
    if len(failures):
        source_column = failures[C.REJECT_COLUMN].map(lambda c: col.get(c, c))
        for (column, rule), grp in failures.assign(_src=source_column).groupby(
            ["_src", C.REJECT_RULE]
        ):
            rows = grp["index"].to_numpy()
            rejects.add(
                file, source_row[rows], column, rule, grp[C.REJECT_VALUE], raw=mapped_raw.iloc[rows]
            )

    bad_rows = rejects.rejected_rows(file)
    keep = np.ones(len(out), dtype=bool)
    keep[bad_rows] = False
    out = out[keep].copy()
    out[C.SOURCE] = spec.name
    out["source_row"] = source_row[keep]
    out[C.QTY] = out[C.QTY].astype("float64")
    return out
