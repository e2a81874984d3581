"""CSV files people open in a spreadsheet: text cells that would run as formulas are escaped.

A SKU or order id such as ``=HYPERLINK("http://…")``, ``@SUM(A1)`` or ``+1-1`` is data to us and a
formula to Excel, LibreOffice and Google Sheets (CSV injection, OWASP). Every CSV this project
writes for people (plans, rejects) goes through :func:`to_csv`: a text cell starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return gets a leading apostrophe (the OWASP advice), so a
spreadsheet shows it as text. Numbers stay numbers, and the Parquet twins stay exact.
"""

from __future__ import annotations

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot start a spreadsheet formula."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)):
            continue
        text = s.astype("string")
        risky = text.str.startswith(FORMULA_PREFIXES).fillna(False).to_numpy(bool)
        if risky.any():
            s = s.astype(object).copy()
            s[risky] = "'" + text[risky].astype(str)
            out[col] = s
    return out


def to_csv(frame: pd.DataFrame, path=None, **kwargs) -> str | None:
    """``frame.to_csv`` with formula prefixes escaped (``index=False`` unless told otherwise)."""
    kwargs.setdefault("index", False)
    return escape_formulas(frame).to_csv(path, **kwargs)
