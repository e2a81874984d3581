"""A brand's locations file: types, regions, lead times and routing attributes, by config.

The canonical ``locations`` table is derived from the transactions (every location that sold);
a locations file (``data.locations`` in ``conf/data/generic.yaml``) adds what the sales cannot
say — a DC that never sells directly, store coordinates, which nodes ship online orders, their
daily pick capacity and handling costs (order routing, :mod:`src.routing`). Its rows override the
derived attributes they give; locations only in the file are added. Bad rows are reported with
file, row, column and rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from src.features import columns as C
from src.features.transactions import check_mapping
from src.features.validation import Rejects, read_table, require_columns

REQUIRED = (C.LOCATION_ID,)
OPTIONAL = (C.LOCATION_TYPE, C.REGION, C.LEAD_TIME_DAYS, *C.ROUTING_ATTRIBUTES)
NUMERIC = (C.LEAD_TIME_DAYS, C.LAT, C.LON, C.PICK_CAPACITY, C.HANDLING_PER_ORDER,
           C.HANDLING_PER_UNIT)  # fmt: skip
TYPES = ("store", "warehouse", "dc", "online", "marketplace")
TRUE = {"1", "true", "yes", "y", "t"}
FALSE = {"0", "false", "no", "n", "f"}


@dataclass
class LocationSpec:
    path: Path
    columns: dict[str, str]
    sep: str | None = None
    encoding: str | None = None

    def __post_init__(self):
        self.path = Path(self.path)
        self.columns = {k: v for k, v in dict(self.columns).items() if v}
        check_mapping("locations file", self.columns, REQUIRED, OPTIONAL)


def parse_flags(values: pd.Series) -> pd.Series:
    """Yes/no text (1/true/yes/y/t, 0/false/no/n/f; any case) as nullable booleans; anything
    else becomes null (callers that must reject it check ``is_flag`` first)."""
    text = values.astype("string").str.strip().str.lower()
    return text.map(lambda v: pd.NA if pd.isna(v) or v not in TRUE | FALSE else v in TRUE).astype(
        "boolean"
    )


def is_flag(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip().str.lower()
    return text.isna() | text.isin(TRUE | FALSE)


def canonical_locations(spec: LocationSpec, rejects: Rejects) -> pd.DataFrame:
    """The file's kept rows in canonical names (only the mapped columns)."""
    file = str(spec.path)
    raw = read_table(spec.path, sep=spec.sep, encoding=spec.encoding).reset_index(drop=True)
    col = spec.columns
    require_columns(raw, file, col)
    rejects.counts_in[file] = len(raw)
    out = pd.DataFrame({k: raw[v] for k, v in col.items()})
    bad = np.zeros(len(raw), dtype=bool)

    def reject(mask, key, rule):
        mask = np.asarray(mask, dtype=bool) & ~bad
        if mask.any():
            rejects.add(file, np.flatnonzero(mask), col[key], rule, raw.loc[mask, col[key]])
            bad[mask] = True

    out[C.LOCATION_ID] = out[C.LOCATION_ID].astype("string").str.strip()
    reject(out[C.LOCATION_ID].isna() | (out[C.LOCATION_ID] == ""), C.LOCATION_ID,
           "missing_location_id")  # fmt: skip
    reject(out[C.LOCATION_ID].duplicated().to_numpy(), C.LOCATION_ID, "duplicate_location")
    for key in NUMERIC:
        if key in out:
            value = pd.to_numeric(out[key], errors="coerce")
            reject((value.isna() & out[key].notna()).to_numpy(), key, "non_numeric")
            if key not in (C.LAT, C.LON):  # west and south are negative
                reject((value < 0).fillna(False).to_numpy(), key, "negative_value")
            out[key] = value
    for key, lo, hi in ((C.LAT, -90, 90), (C.LON, -180, 180)):
        if key in out:
            reject(((out[key] < lo) | (out[key] > hi)).fillna(False).to_numpy() & ~bad, key,
                   "out_of_range")  # fmt: skip
    if C.LOCATION_TYPE in out:
        t = out[C.LOCATION_TYPE].astype("string").str.strip().str.lower()
        reject((t.notna() & ~t.isin(TYPES)).to_numpy(), C.LOCATION_TYPE, "unknown_type")
        out[C.LOCATION_TYPE] = t
    if C.SHIP_FROM in out:
        reject((~is_flag(out[C.SHIP_FROM])).to_numpy(), C.SHIP_FROM, "not_a_flag")
        out[C.SHIP_FROM] = parse_flags(out[C.SHIP_FROM])
    return out[~bad].reset_index(drop=True)


def merge_locations(derived: pd.DataFrame, given: pd.DataFrame) -> pd.DataFrame:
    """``derived`` (from the sales) with the file's values where it gives them, plus the
    file's other locations (a DC that never sells directly, a store not open yet)."""
    base = derived.set_index(C.LOCATION_ID)
    extra = given.set_index(C.LOCATION_ID)
    out = base.reindex(base.index.union(extra.index, sort=False))
    for key in extra.columns:
        if key not in out:
            out[key] = None
        vals = extra[key].dropna()
        out[key] = out[key].astype(object)
        out.loc[vals.index, key] = vals.to_numpy()
    new = ~out.index.isin(base.index)
    out.loc[new & out[C.LOCATION_TYPE].isna(), C.LOCATION_TYPE] = "warehouse"
    out.loc[new & out[C.REGION].isna(), C.REGION] = out.index[new & out[C.REGION].isna()]
    lead = derived[C.LEAD_TIME_DAYS].iloc[0] if len(derived) else 7.0
    out[C.LEAD_TIME_DAYS] = pd.to_numeric(out[C.LEAD_TIME_DAYS]).fillna(lead)
    return out.rename_axis(C.LOCATION_ID).reset_index()
