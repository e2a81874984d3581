"""Supply terms per location x SKU: MOQ, case pack, lead time (mean, sd).

Precedence: a terms file (``sku`` [, ``location_id``] and any of the terms) over the locations
table's ``lead_time_days`` over the configured defaults. The file is checked at the boundary:
a missing key column, a negative or non-numeric term, or a duplicated key stops with the file,
column, rule and example rows — before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from src.features import columns as C
from src.features.validation import DataValidationError

TERMS_COLUMNS = ("moq", "case_pack", "lead_time_days", "lead_time_std", "unit_cost")
DEFAULTS = ("moq", "case_pack", "lead_time_days", "lead_time_std")


def read_supply_terms(path: str | Path) -> pd.DataFrame:
    """Supply terms CSV/Parquet: ``sku`` [, ``location_id``] and any of MOQ, case pack, lead times."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: supply terms file not found (policy.supply_terms)")
    df = (
        pd.read_parquet(path)
        if path.suffix == ".parquet"
        else pd.read_csv(path, dtype={C.SKU: str, C.LOCATION_ID: str})
    )
    if C.SKU not in df:
        raise DataValidationError(
            path, "required_column", f"missing; columns found: {list(df.columns)}", column=C.SKU
        )
    for col in TERMS_COLUMNS:
        if col not in df:
            continue
        v = pd.to_numeric(df[col], errors="coerce")
        bad = df[v.isna() | (v < 0)]
        if len(bad):
            raise DataValidationError(
                path,
                "non_negative_number",
                f"must be a non-negative number; {len(bad)} row(s) break it",
                column=col,
                examples=bad,
            )
        df[col] = v
    dup = df.duplicated([c for c in (C.SKU, C.LOCATION_ID) if c in df], keep=False)
    if dup.any():
        raise DataValidationError(
            path,
            "unique_key",
            "one row per sku (x location) expected",
            column=C.SKU,
            examples=df[dup],
        )
    return df


def supply_terms(
    keys: pd.DataFrame,
    locations: pd.DataFrame,
    defaults: Mapping[str, float],
    terms: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``moq, case_pack, lead_time_days, lead_time_std`` per row of ``keys`` (see module doc)."""
    t = pd.DataFrame(index=keys.index)
    for col in ("moq", "case_pack", "lead_time_std"):
        t[col] = float(defaults[col])
    lt = (
        keys[C.LOCATION_ID].map(locations.set_index(C.LOCATION_ID)[C.LEAD_TIME_DAYS])
        if len(locations)
        else pd.Series(np.nan, index=keys.index)
    )
    t["lead_time_days"] = (
        pd.to_numeric(lt, errors="coerce").fillna(float(defaults["lead_time_days"])).to_numpy()
    )
    if terms is not None:
        on = [C.SKU, C.LOCATION_ID] if C.LOCATION_ID in terms else [C.SKU]
        m = keys[on].astype(str).merge(terms.astype({c: str for c in on}), on=on, how="left")
        for col in DEFAULTS:
            if col in m:
                t[col] = m[col].fillna(t[col]).to_numpy(float)
    t["case_pack"] = t["case_pack"].clip(lower=1)
    return t[list(DEFAULTS)]
