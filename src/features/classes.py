"""ABC (revenue share) and XYZ (demand variability) classes of items — features that the
forecasting tiers (expensive models on the top classes) and the policy layer (service level per
class, :mod:`src.policy.classify`) share.

* **ABC**: items sorted by revenue; the top items making up the first ``A`` share of revenue
  are A, up to ``B`` are B, the rest C (Pareto classes).
* **XYZ**: coefficient of variation of demand per period: ``CV <= X`` is X, ``<= Y`` is Y, else
  Z; items without demand are Z.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from src.features import columns as C


def abc_classes(revenue: pd.Series, thresholds: Mapping[str, float]) -> pd.Series:
    """ABC class per index entry from revenue; ``thresholds`` like ``{A: 0.8, B: 0.95}``."""
    a, b = float(thresholds["A"]), float(thresholds["B"])
    if not 0 < a <= b <= 1:
        raise ValueError(f"ABC thresholds need 0 < A <= B <= 1, got A={a}, B={b}")
    rev = revenue.clip(lower=0).sort_values(ascending=False, kind="stable")
    total = rev.sum()
    if total <= 0:
        return pd.Series("C", index=revenue.index, name="abc_class")
    share_before = (rev.cumsum() - rev) / total  # share of revenue of the items ranked above
    cls = np.where(share_before < a, "A", np.where(share_before < b, "B", "C"))
    return pd.Series(cls, index=rev.index, name="abc_class").reindex(revenue.index)


def xyz_classes(cv: pd.Series, thresholds: Mapping[str, float]) -> pd.Series:
    """XYZ class from the coefficient of variation; ``thresholds`` like ``{X: 0.5, Y: 1.0}``."""
    x, y = float(thresholds["X"]), float(thresholds["Y"])
    if not 0 <= x <= y:
        raise ValueError(f"XYZ thresholds need 0 <= X <= Y, got X={x}, Y={y}")
    v = cv.to_numpy(float)
    cls = np.where(~np.isfinite(v), "Z", np.where(v <= x, "X", np.where(v <= y, "Y", "Z")))
    return pd.Series(cls, index=cv.index, name="xyz_class")


def series_revenue(panel: pd.DataFrame, days: int = 365) -> pd.Series:
    """Revenue per series (units x price, or units without a price) over the panel's last
    ``days`` — what ABC classes, tiers and ``top_n`` rank series by."""
    recent = panel[panel[C.DS] > panel[C.DS].max() - pd.Timedelta(days=days)]
    value = recent[C.Y] * recent.get(C.PRICE, 1.0)
    return value.groupby(recent[C.UNIQUE_ID], observed=True).sum()
