"""The declared schema of each stage output (pandera), checked on every write and by
``python -m src.outputs`` after a run.

A schema states what consumers rely on — the key columns, their types, values that must be
finite, non-negative or in range — and allows further columns (a model's extra quantiles, a
plan's reasons), so a producer can add information without breaking a reader. Columns are
spelled here as the output contract; they are the same names as the canonical columns.
"""

from __future__ import annotations

import numpy as np
import pandera.pandas as pa

_TEXT = pa.Check(lambda s: s.astype("string").str.len() > 0, name="empty_text")


def _finite(s):
    return np.isfinite(s.astype("float64")) | s.isna()


FINITE = pa.Check(_finite, name="not_finite")
NON_NEGATIVE = pa.Check(lambda s: s.isna() | (s >= 0), name="negative")
PROBABILITY = pa.Check(lambda s: s.isna() | s.between(0, 1), name="outside_0_1")


def _id(nullable: bool = False) -> pa.Column:
    return pa.Column(None, _TEXT, nullable=nullable)


def _num(*checks, nullable: bool = True, required: bool = True) -> pa.Column:
    return pa.Column(float, [FINITE, *checks], nullable=nullable, coerce=True, required=required)


def _time(nullable: bool = False) -> pa.Column:
    return pa.Column("datetime64[ns]", nullable=nullable, coerce=True)


def _frame(columns: dict, **kwargs) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(columns, strict=False, **kwargs)


def forecast() -> pa.DataFrameSchema:
    return _frame(
        {
            "unique_id": _id(),
            "ds": _time(),
            "y_hat": _num(nullable=False),
            r"^q\d": pa.Column(float, FINITE, regex=True, nullable=True, coerce=True),
        }
    )


def forecast_levels() -> pa.DataFrameSchema:
    return _frame({"unique_id": _id(), "ds": _time(), "y_hat": _num(nullable=False)})


def backtest() -> pa.DataFrameSchema:
    return _frame({"unique_id": _id(), "ds": _time(), "y": _num(), "y_hat": _num()})


def recommendations() -> pa.DataFrameSchema:
    return _frame(
        {
            "customer_id": _id(),
            "sku": _id(),
            "rank": pa.Column(int, pa.Check.ge(1), coerce=True),
            "score": _num(required=False),
        }
    )


def suggestions() -> pa.DataFrameSchema:
    return _frame(
        {
            "location_id": _id(),
            "sku": _id(),
            "on_hand": _num(),
            "safety_stock": _num(NON_NEGATIVE),
            "reorder_point": _num(NON_NEGATIVE),
            "order_up_to": _num(NON_NEGATIVE),
            "order_qty": _num(NON_NEGATIVE, nullable=False),
            "days_of_cover": _num(NON_NEGATIVE),
        }
    )


def transfers() -> pa.DataFrameSchema:
    return _frame(
        {
            "sku": _id(),
            "from_location": _id(),
            "to_location": _id(),
            "qty": _num(pa.Check.gt(0), nullable=False),
        }
    )


def simulation() -> pa.DataFrameSchema:
    return _frame({"policy": _id(), "fill_rate": _num(PROBABILITY)})


def clv() -> pa.DataFrameSchema:
    return _frame(
        {
            "customer_id": _id(),
            "p_alive": _num(PROBABILITY, required=False),
            "clv_tier": pa.Column(None, nullable=True),
        }
    )


def audiences() -> pa.DataFrameSchema:
    return _frame(
        {
            "audience": _id(),
            "customer_id": _id(),
            "group": pa.Column(str, pa.Check.isin(["treated", "holdout"])),
            "as_of": _time(),
        }
    )


def contacts() -> pa.DataFrameSchema:
    return audiences()


def campaign_results() -> pa.DataFrameSchema:
    return _frame({"campaign_id": _id(), "verdict": pa.Column(str)})


def not_measured() -> pa.DataFrameSchema:
    return _frame({"campaign_id": _id(), "reason": pa.Column(str, _TEXT)})


def assignments() -> pa.DataFrameSchema:
    return _frame({"order_id": _id(), "sku": _id(), "qty": _num(NON_NEGATIVE)})


def kpis() -> pa.DataFrameSchema:
    return _frame(
        {
            "kpi": _id(),
            "grain": pa.Column(None),
            "dimension": _id(),
            "member": pa.Column(None, nullable=True),
            "period": _time(),
            "value": _num(),
        }
    )


def rejects() -> pa.DataFrameSchema:
    """One row per refused source row: which file and row, the column, the rule, the value."""
    return _frame({"source_file": _id(), "source_row": pa.Column(int, coerce=True),
                   "column": pa.Column(str), "rule": _id()})  # fmt: skip
