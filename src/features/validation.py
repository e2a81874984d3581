"""Validation at the boundary: raw files in, clean rows or clear errors out.

Two kinds of failure:

* **file-level** (missing file, empty file, wrong file type, missing required column, too many
  bad rows) raise :class:`DataValidationError`, whose message names the file, the column, the
  rule and shows example rows;
* **row-level** (unparseable timestamp, negative or NaN price, zero quantity, duplicate order
  line, future timestamp, unknown SKU ...) send the row to the rejects report with the rule it
  broke. Nothing is dropped silently: ``rows in = rows kept + rows rejected`` for every file.

Value rules are declared once as pandera schemas (``transactions_schema``,
``inventory_schema``); parsing failures (text that is not a number or a timestamp) are caught
before the schema, where the raw text is still at hand.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.errors
import pandera.pandas as pa

from src.features import columns as C

READABLE_SUFFIXES = {".csv": "csv", ".gz": "csv", ".parquet": "parquet", ".pq": "parquet"}
N_EXAMPLES = 5

# A row breaking several rules is reported under the first of these that it breaks.
RULE_ORDER = [
    "duplicate_across_sources",
    "unparseable_timestamp",
    "mixed_timestamp_format",
    "non_numeric_qty",
    "non_numeric_price",
    "customer_id_mixed_type",
    "id_too_long",
    "missing_value",
    "nan_price",
    "non_finite_qty",
    "non_finite_price",
    "negative_price",
    "zero_quantity",
    "implausible_qty",
    "implausible_price",
    "cancellation_with_positive_qty",
    "future_timestamp",
    "timestamp_before_floor",
    "duplicate_order_line",
    "unknown_sku",
    "unknown_location",
    "negative_stock",
]


class DataValidationError(ValueError):
    """A problem with an input file that stops ingestion; says where and why."""

    def __init__(
        self,
        file: str | Path,
        rule: str,
        message: str,
        column: str | None = None,
        examples: pd.DataFrame | None = None,
    ):
        self.file = str(file)
        self.rule = rule
        self.column = column
        self.examples = examples
        where = f"{self.file}: column '{column}'" if column else self.file
        text = f"{where}: {message} [rule: {rule}]"
        if examples is not None and len(examples):
            text += "\nexample rows (source row number on the left):\n" + examples.head(
                N_EXAMPLES
            ).to_string(max_colwidth=40)
        super().__init__(text)


# --- reading ----------------------------------------------------------------------------------


def read_table(path: str | Path, **csv_options) -> pd.DataFrame:
    """Read a CSV or Parquet file; every column of a CSV stays text (parsing is ours)."""
    path = Path(path)
    if not path.exists():
        raise DataValidationError(path, "file_exists", "file not found")
    if path.is_dir():
        raise DataValidationError(
            path, "file_type", "is a directory, expected a CSV or Parquet file"
        )
    kind = READABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DataValidationError(
            path,
            "file_type",
            f"unsupported file type '{path.suffix}'; expected one of .csv, .csv.gz, .parquet",
        )
    if path.stat().st_size == 0:
        raise DataValidationError(path, "non_empty", "file is empty (0 bytes)")
    csv_options = {k: v for k, v in csv_options.items() if v is not None}
    if kind == "csv":
        _check_csv_bytes(path, csv_options.get("encoding"))
    try:
        if kind == "parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], **csv_options)
            _check_header(path, csv_options)
    except DataValidationError:
        raise
    except UnicodeDecodeError as exc:
        line, at, byte = _first_undecodable_line(path, exc.encoding)
        raise DataValidationError(
            path,
            "encoding",
            f"is not valid {exc.encoding} text at line {line}, byte {at} of the line ({byte!r}); "
            "set data.encoding (e.g. cp1252, latin-1, utf-16)",
        ) from exc
    except Exception as exc:  # the reader's own message, wrapped with the file name
        raise DataValidationError(
            path, "file_type", f"cannot be read as {kind}: {type(exc).__name__}: {exc}"
        ) from exc
    if len(df) == 0:
        raise DataValidationError(path, "non_empty", "has a header but no data rows")
    return df


def _open_bytes(path: Path):
    import gzip

    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")


def _first_undecodable_line(path: Path, encoding: str) -> tuple[int, int, bytes]:
    """The first line that does not decode: its 1-based number, the 1-based position of the bad
    byte in it and that byte (the parser's own offset counts from its buffer, not the file; the
    line's text is not shown — it may hold personal data)."""
    with _open_bytes(path) as fh:
        for number, raw in enumerate(fh, 1):
            try:
                raw.decode(encoding)
            except UnicodeDecodeError as err:
                return number, err.start + 1, raw[err.start : err.start + 1]
    return 0, 0, b""


def _check_csv_bytes(path: Path, encoding: str | None) -> None:
    """NUL bytes cut a CSV field short without a word from the parser (``AB\\0CD`` -> ``AB``):
    stop and name the lines (a UTF-16 export is the usual cause)."""
    if encoding and encoding.lower().replace("-", "").startswith(("utf16", "utf32")):
        return
    lines, line, total = [], 1, 0
    with _open_bytes(path) as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            if b"\x00" in chunk:
                for i, part in enumerate(chunk.split(b"\n")):
                    if b"\x00" in part and len(lines) < N_EXAMPLES:
                        lines.append(line + i)
                total += chunk.count(b"\x00")
            line += chunk.count(b"\n")
    if total:
        raise DataValidationError(
            path,
            "nul_byte",
            f"holds {total:,} NUL byte(s), e.g. on line(s) {lines}: a CSV reader would cut those "
            "fields short; export as UTF-8 text, or set data.encoding (utf-16?)",
        )


def _check_header(path: Path, csv_options: dict) -> None:
    """Two columns with one name: pandas would keep the first and rename the second ('x.1')."""
    header = pd.read_csv(path, header=None, nrows=1, dtype=str, **csv_options).iloc[0]
    names = header.fillna("").astype(str).str.strip()
    dup = names[names.duplicated()].tolist()
    if dup:
        raise DataValidationError(
            path,
            "duplicate_column",
            f"the header names column(s) {sorted(set(dup))} more than once; rename one so the "
            "mapping says which to read",
            column=dup[0],
        )


def require_columns(df: pd.DataFrame, file: str | Path, mapping: dict[str, str]) -> None:
    """Every mapped source column must exist; ``mapping`` is canonical name -> source name."""
    for canonical, source in mapping.items():
        if source not in df.columns:
            raise DataValidationError(
                file,
                "required_column",
                f"is missing (mapped to '{canonical}'); columns found: {list(df.columns)}",
                column=source,
            )


# --- parsing helpers (record what could not be parsed) ----------------------------------------


ISO = "ISO8601"
EPOCH_UNITS = ("s", "ms", "us", "ns")


def _orientation(fmt: str) -> str | None:
    """``day`` when a format puts the day before the month, ``month`` when after, else None."""
    d, m = fmt.find("%d"), fmt.find("%m")
    if d < 0 or m < 0 or fmt.lstrip().startswith("%Y"):
        return None
    return "day" if d < m else "month"


def _candidate_formats(values: np.ndarray, dayfirst: bool | None) -> list[str]:
    """ISO 8601 plus the formats pandas guesses from a spread of the values, both ways round
    unless ``dayfirst`` says which (a year-first guess is ISO: nobody writes year-day-month)."""
    from pandas.tseries.api import guess_datetime_format

    found = [ISO]
    step = max(1, len(values) // 200)
    ways = (False, True) if dayfirst is None else (bool(dayfirst),)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for value in values[::step][:200]:
            for way in ways:
                fmt = guess_datetime_format(str(value), dayfirst=way)
                if fmt is None:
                    continue
                fmt = ISO if fmt.lstrip().startswith("%Y") else fmt
                if dayfirst is not None and _orientation(fmt) == ("month" if dayfirst else "day"):
                    continue
                if fmt not in found:
                    found.append(fmt)
    return found


def infer_timestamp_format(
    raw: pd.Series, file: str | Path = "", column: str | None = None, dayfirst: bool | None = None
) -> str:
    """The one format of a text timestamp column: the candidate that reads the most distinct
    values (ISO 8601 on a tie with an identical reading). When two formats read the same values
    to different dates (``03/01/2024``: 3 January or 1 March?) the column is ambiguous and the
    ingest stops, naming example rows — set ``data.dayfirst`` or ``data.ts_format``."""
    text = raw.dropna().astype(str).str.strip()
    distinct = pd.unique(text[text != ""])
    if len(distinct) == 0:
        return ISO
    values = pd.Series(distinct)
    if pd.to_datetime(values, format=ISO, errors="coerce", utc=True).notna().all():
        return ISO  # the common case, and never ambiguous (nobody writes year-day-month)
    candidates = _candidate_formats(distinct, dayfirst)
    parsed = {f: pd.to_datetime(values, format=f, errors="coerce", utc=True) for f in candidates}
    counts = {f: int(parsed[f].notna().sum()) for f in candidates}
    best = max(counts.values())
    if best == 0:
        return ISO  # nothing reads: every row is rejected as unparseable
    top = [f for f in candidates if counts[f] == best]
    first = parsed[top[0]]
    for other in top[1:]:
        differ = first.notna() & parsed[other].notna() & (first != parsed[other])
        if differ.any():
            shown = set(distinct[differ.to_numpy()][:N_EXAMPLES])
            rows = raw[raw.astype(str).str.strip().isin(shown)].head(N_EXAMPLES)
            raise DataValidationError(
                file,
                "ambiguous_timestamp_format",
                f"every timestamp reads both as '{top[0]}' and as '{other}', to different "
                f"dates (e.g. {rows.iat[0]!r}); day-first or month-first cannot be told from "
                "the data — set data.dayfirst=true|false or data.ts_format",
                column=column,
                examples=rows.to_frame(column or "ts"),
            )
    return top[0]


def parse_timestamps(
    raw: pd.Series,
    fmt: str | None = None,
    tz: str | None = None,
    *,
    dayfirst: bool | None = None,
    unit: str | None = None,
    file: str | Path = "",
    column: str | None = None,
) -> pd.Series:
    """Parse to naive timestamps (local time of ``tz`` when the source is tz-aware); bad -> NaT.

    One format per column: ``fmt`` when given, else the one :func:`infer_timestamp_format`
    finds (values in another format become NaT and are rejected row by row, never guessed one
    by one). Numbers are epoch times and need their ``unit`` (``s``, ``ms``, ``us``, ``ns``):
    without it the column is refused rather than read as nanoseconds (1970).
    """
    if unit is not None and unit not in EPOCH_UNITS:
        raise ValueError(f"data.ts_unit must be one of {EPOCH_UNITS}, got {unit!r}")
    if pd.api.types.is_datetime64_any_dtype(raw):
        ts = raw
    elif unit is not None:
        ts = pd.to_datetime(pd.to_numeric(raw, errors="coerce"), unit=unit, errors="coerce")
    elif pd.api.types.is_numeric_dtype(raw) or _looks_epoch(raw):
        shown = raw.dropna().head(N_EXAMPLES)
        raise DataValidationError(
            file,
            "timestamp_unit",
            f"holds numbers (e.g. {shown.iat[0] if len(shown) else ''!r}), not dates: epoch "
            "timestamps need their unit — set data.ts_unit=s|ms|us|ns",
            column=column,
            examples=shown.to_frame(column or "ts"),
        )
    else:
        fmt = fmt or infer_timestamp_format(raw, file, column, dayfirst)
        ts = pd.to_datetime(raw, errors="coerce", format=fmt, utc=False)
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_convert(tz).dt.tz_localize(None) if tz else ts.dt.tz_localize(None)
    elif ts.dtype == object:  # mixed offsets in one column: to UTC, then to ``tz``
        ts = pd.to_datetime(raw, errors="coerce", format=fmt, utc=True)
        ts = ts.dt.tz_convert(tz).dt.tz_localize(None) if tz else ts.dt.tz_localize(None)
    return ts.astype("datetime64[ns]")


def _looks_epoch(raw: pd.Series) -> bool:
    """Text of 9+ digits throughout (``1704067200``): epoch numbers written as text."""
    text = raw.dropna().astype(str).str.strip()
    return bool(len(text)) and bool(text.str.fullmatch(r"-?\d{9,}(\.\d+)?").all())


def other_format(raw: pd.Series) -> pd.Series:
    """Rows pandas could read in *some* format (a row in another format than its column's)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.to_datetime(raw, errors="coerce", format="mixed", utc=True).notna()


def parse_numbers(raw: pd.Series, decimal: str | None = None) -> pd.Series:
    """Numbers from a numeric or text column (``decimal``: the text's decimal mark); bad -> NaN."""
    if pd.api.types.is_numeric_dtype(raw):
        return raw.astype("float64")
    if decimal and decimal != ".":
        raw = raw.astype("string").str.replace(decimal, ".", regex=False)
    return pd.to_numeric(raw, errors="coerce").astype("float64")


def on_distinct(raw: pd.Series, fn) -> pd.Series:
    """Apply a vectorised string function to the distinct values only, then map back.

    Id and code columns repeat heavily (1 M lines, 50 k orders), so this is much faster than
    running string operations row by row.
    """
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    done = fn(pd.Series(uniques, dtype=raw.dtype if raw.dtype != object else object))
    out = done.take(np.where(codes < 0, 0, codes)) if len(done) else pd.Series([pd.NA] * len(raw))
    out = out.reset_index(drop=True)
    out.index = raw.index
    return out.mask(codes < 0)


def normalise_ids(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Identifiers become clean strings; returns ``(ids, bad)``.

    ``17850``, ``17850.0``, ``"17850"`` and ``" 17850.0 "`` are one id ``"17850"``; a float with a
    fraction (``17850.5``, also as text in a mostly numeric column) or a boolean in an id column
    is a mixed-type value and marked bad. Empty values become null (anonymous). Works on the
    distinct values and maps back.
    """
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    ids, bad = _normalise_distinct_ids(pd.Series(uniques, dtype=object))
    safe = np.where(codes < 0, 0, codes)
    missing = codes < 0
    if len(uniques) == 0:
        return pd.Series(pd.NA, index=raw.index, dtype="string"), pd.Series(False, index=raw.index)
    out = pd.Series(ids.to_numpy()[safe], index=raw.index, dtype="string").mask(missing)
    return out, pd.Series(bad.to_numpy()[safe] & ~missing, index=raw.index)


def _normalise_distinct_ids(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_integer_dtype(raw):
        out = raw.astype("Int64").astype("string")
        return out, pd.Series(False, index=raw.index)
    if pd.api.types.is_float_dtype(raw):
        integral = raw.isna() | (raw == np.floor(raw))
        out = raw.where(integral).astype("Int64").astype("string")
        return out, ~integral
    values = raw.astype(object)
    kinds = values.map(type)
    bad = kinds.isin([bool, np.bool_]).to_numpy()
    floats = (kinds.isin([float, np.float64]) & values.notna()).to_numpy()
    if floats.any():
        f = values[floats].astype(float).to_numpy()
        bad[floats] = f != np.floor(f)
    text = values.where(~bad).astype("string").str.strip()
    text = text.mask(text.isin(["", "nan", "None", "<NA>"]))
    numeric = text.str.fullmatch(r"-?\d+(\.\d+)?").fillna(False)
    if numeric.sum() > 0.5 * text.notna().sum():
        # mostly numeric ids: "17850.0" is 17850, "17850.5" is a mangled (mixed-type) value
        fraction = text.str.fullmatch(r"-?\d+\.\d*[1-9]\d*").fillna(False).to_numpy()
        bad |= fraction
        text = text.mask(fraction)
    text = text.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)
    return text, pd.Series(bad, index=raw.index)


# --- schemas ----------------------------------------------------------------------------------


def duplicate_rows(df: pd.DataFrame, key: list[str]) -> pd.Series:
    """Rows whose ``key`` repeats an earlier row (the first occurrence is not a duplicate)."""
    return df.duplicated(subset=key, keep="first")


def _present(name: str) -> pa.Check:
    return pa.Check(lambda s: s.notna(), name=name, ignore_na=False, error=f"{name}")


def _finite(name: str) -> pa.Check:
    return pa.Check(lambda s: np.isfinite(s.astype(float)), name=name, error=name)


def transactions_schema(
    max_ts: pd.Timestamp,
    min_ts: pd.Timestamp | None = None,
    max_abs_qty: float | None = None,
    max_unit_price: float | None = None,
) -> pa.DataFrameSchema:
    """Value rules for canonical transaction lines (after parsing).

    ``min_ts``: the floor below which a timestamp is a parsing or export accident (1900-01-01,
    epoch zero), ``max_abs_qty`` / ``max_unit_price``: plausibility bounds (``ingest.*``);
    infinities never pass. Duplicate lines are found by :func:`duplicate_rows`: pandera's own
    ``unique`` check gives the same answer but formats each failure case, which cost 4 s on the
    12 k duplicates of UCI.
    """
    ts_checks = [
        _present("missing_value"),
        pa.Check(lambda s: s <= max_ts, name="future_timestamp"),
    ]
    if min_ts is not None:
        ts_checks.append(pa.Check(lambda s: s >= min_ts, name="timestamp_before_floor"))
    qty_checks = [
        _present("missing_value"),
        _finite("non_finite_qty"),
        pa.Check(lambda s: s != 0, name="zero_quantity"),
    ]
    if max_abs_qty:
        qty_checks.append(pa.Check(lambda s: s.abs() <= max_abs_qty, name="implausible_qty"))
    price_checks = [
        _present("nan_price"),
        _finite("non_finite_price"),
        pa.Check(lambda s: s >= 0, name="negative_price"),
    ]
    if max_unit_price:
        price_checks.append(pa.Check(lambda s: s <= max_unit_price, name="implausible_price"))
    return pa.DataFrameSchema(
        {
            C.ORDER_ID: pa.Column(object, _present("missing_value"), nullable=True),
            C.SKU: pa.Column(object, _present("missing_value"), nullable=True),
            C.TS: pa.Column("datetime64[ns]", ts_checks, nullable=True),
            C.QTY: pa.Column(float, qty_checks, nullable=True),
            C.UNIT_PRICE: pa.Column(float, price_checks, nullable=True),
        },
        coerce=False,
    )


def inventory_schema(known_skus: Iterable[str], known_locations: Iterable[str]):
    skus = pd.Index(pd.unique(pd.Series(list(known_skus), dtype=object)))
    locs = pd.Index(pd.unique(pd.Series(list(known_locations), dtype=object)))
    return pa.DataFrameSchema(
        {
            C.SKU: pa.Column(
                object,
                [_present("missing_value"), pa.Check(lambda s: s.isin(skus), name="unknown_sku")],
                nullable=True,
            ),
            C.LOCATION_ID: pa.Column(
                object,
                [
                    _present("missing_value"),
                    pa.Check(lambda s: s.isin(locs), name="unknown_location"),
                ],
                nullable=True,
            ),
            C.AS_OF: pa.Column("datetime64[ns]", _present("missing_value"), nullable=True),
            C.ON_HAND: pa.Column(
                float,
                [_present("missing_value"), pa.Check(lambda s: s >= 0, name="negative_stock")],
                nullable=True,
            ),
            C.ON_ORDER: pa.Column(
                float, pa.Check(lambda s: s >= 0, name="negative_stock"), nullable=True
            ),
        },
        unique=[C.LOCATION_ID, C.SKU, C.AS_OF],
        report_duplicates="exclude_first",
    )


_PANDERA_RULES = {"multiple_fields_uniqueness": "duplicate_order_line"}


def schema_failures(df: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.DataFrame:
    """Row-level failures of ``schema`` as ``index, column, rule, value`` (empty if none)."""
    try:
        schema.validate(df, lazy=True)
    except pandera.errors.SchemaErrors as err:
        fc = err.failure_cases
        fc = fc[fc["index"].notna()].copy()
        rule = fc["check"].astype(str).str.replace(r"\(.*\)$", "", regex=True)
        rule = rule.replace(_PANDERA_RULES)
        column = fc["column"].where(fc["column"].notna(), "+".join(schema.unique or []))
        out = pd.DataFrame(
            {
                "index": fc["index"].astype("int64").to_numpy(),
                C.REJECT_COLUMN: column.astype(str).to_numpy(),
                C.REJECT_RULE: rule.to_numpy(),
                C.REJECT_VALUE: fc["failure_case"].astype(str).to_numpy(),
            }
        )
        # table-level uniqueness is reported once per column; keep one line per row and rule
        return out.drop_duplicates(["index", C.REJECT_RULE])
    return pd.DataFrame(columns=["index", C.REJECT_COLUMN, C.REJECT_RULE, C.REJECT_VALUE])


# --- rejects bookkeeping ----------------------------------------------------------------------


@dataclass
class Rejects:
    """Collects rejected rows per file: one report row per rejected source row."""

    failures: list[pd.DataFrame] = field(default_factory=list)
    counts_in: dict[str, int] = field(default_factory=dict)

    def add(
        self,
        file: str | Path,
        source_rows: pd.Series | np.ndarray,
        column: str,
        rule: str,
        values: pd.Series | np.ndarray,
        raw: pd.DataFrame | None = None,
    ) -> None:
        n = len(source_rows)
        if n == 0:
            return
        frame = pd.DataFrame(
            {
                C.REJECT_FILE: str(file),
                C.REJECT_ROW: np.asarray(source_rows, dtype="int64"),
                C.REJECT_COLUMN: column,
                C.REJECT_RULE: rule,
                C.REJECT_VALUE: pd.Series(np.asarray(values)).astype(str).to_numpy(),
            }
        )
        if raw is not None:
            raw_text = raw.astype(str).add_prefix("raw_").reset_index(drop=True)
            frame = pd.concat([frame, raw_text], axis=1)
        self.failures.append(frame)

    def to_frame(self) -> pd.DataFrame:
        """One row per rejected source row: the first rule it broke, plus all it broke."""
        if not self.failures:
            return pd.DataFrame(columns=[*C.REJECTS, "all_rules"])
        df = pd.concat(self.failures, ignore_index=True)
        order = {r: i for i, r in enumerate(RULE_ORDER)}
        df["_order"] = df[C.REJECT_RULE].map(order).fillna(len(order))
        df = df.sort_values([C.REJECT_FILE, C.REJECT_ROW, "_order"], kind="stable")
        all_rules = df.groupby([C.REJECT_FILE, C.REJECT_ROW], sort=False)[C.REJECT_RULE].agg(
            lambda s: ";".join(dict.fromkeys(s))
        )
        first = df.drop_duplicates([C.REJECT_FILE, C.REJECT_ROW]).drop(columns="_order")
        first = first.set_index([C.REJECT_FILE, C.REJECT_ROW])
        first["all_rules"] = all_rules
        return first.reset_index()

    def rejected_rows(self, file: str | Path) -> np.ndarray:
        rows = [
            f[C.REJECT_ROW].to_numpy()
            for f in self.failures
            if f[C.REJECT_FILE].iat[0] == str(file)
        ]
        return np.unique(np.concatenate(rows)) if rows else np.array([], dtype="int64")


def examples_of(frame: pd.DataFrame, rule: str, n: int = N_EXAMPLES) -> pd.DataFrame:
    """Example rejected rows for one rule, for messages and the summary."""
    hit = frame[frame[C.REJECT_RULE] == rule].head(n)
    return hit.set_index(C.REJECT_ROW).drop(columns=[C.REJECT_RULE, "all_rules"], errors="ignore")


def raise_if_too_many(rejects: pd.DataFrame, file: str, n_in: int, max_fraction: float) -> None:
    """A file that is mostly bad is a mapping mistake, not bad rows: stop with examples."""
    mine = rejects[rejects[C.REJECT_FILE] == file]
    if n_in and len(mine) / n_in > max_fraction:
        rule = mine[C.REJECT_RULE].value_counts().index[0]
        column = mine.loc[mine[C.REJECT_RULE] == rule, C.REJECT_COLUMN].iat[0]
        raise DataValidationError(
            file,
            rule,
            f"{len(mine):,} of {n_in:,} rows rejected (more than {max_fraction:.0%}); "
            f"most often for '{rule}'. Check the column mapping and formats.",
            column=column,
            examples=examples_of(mine, rule),
        )
