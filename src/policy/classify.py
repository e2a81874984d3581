"""ABC (revenue share) / XYZ (demand variability) classes and the service level each one gets.

* **ABC**: items sorted by revenue over the look-back window; the top items making up the first
  ``A`` share of revenue are A, up to ``B`` are B, the rest C (Pareto classes).
* **XYZ**: coefficient of variation of demand per period (weekly by default — daily CVs of
  intermittent items are all huge and say little): ``CV <= X`` is X, ``<= Y`` is Y, else Z;
  items without demand in the window are Z.
* **Service level**: per ABC class, optionally overridden per combined class (``AX``), or
  *cost-based*: the newsvendor ratio of a lost unit's cost to the cost of carrying one unit
  through a review cycle, ``p / (p + h v R / 365)`` — cheap units get more protection, dear ones
  less, which is what maximises units served for a given stock value.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from src.features import columns as C
from src.features.classes import abc_classes, xyz_classes

__all__ = ["abc_classes", "classify", "class_service_levels", "cost_service_levels", "xyz_classes"]


def classify(
    history: pd.DataFrame,
    abc: Mapping[str, float],
    xyz: Mapping[str, float],
    lookback_days: int = 365,
    xyz_freq: str = "W",
) -> pd.DataFrame:
    """Classes per series from a demand panel (``unique_id, ds, y`` and optionally ``price``).

    Revenue is ``y * price`` where a price column exists, else units. Returns ``unique_id,
    revenue, revenue_share, cv, abc_class, xyz_class, abc_xyz``.
    """
    h = history[[C.UNIQUE_ID, C.DS, C.Y] + ([C.PRICE] if C.PRICE in history else [])]
    end = h[C.DS].max()
    h = h[h[C.DS] > end - pd.Timedelta(days=lookback_days)]
    rev = h[C.Y] * (h[C.PRICE].fillna(0.0) if C.PRICE in h else 1.0)
    revenue = rev.groupby(h[C.UNIQUE_ID]).sum()
    per = h.groupby([C.UNIQUE_ID, pd.Grouper(key=C.DS, freq=xyz_freq)])[C.Y].sum().groupby(level=0)
    mean, std = per.mean(), per.std(ddof=0)
    cv = (std / mean.where(mean > 0)).reindex(revenue.index)
    out = pd.DataFrame({C.UNIQUE_ID: revenue.index, "revenue": revenue.to_numpy()})
    total = revenue.sum()
    out["revenue_share"] = out["revenue"] / total if total > 0 else 0.0
    out["cv"] = cv.to_numpy()
    out["abc_class"] = abc_classes(revenue, abc).to_numpy()
    out["xyz_class"] = xyz_classes(cv, xyz).to_numpy()
    out["abc_xyz"] = out["abc_class"] + out["xyz_class"]
    return out


def class_service_levels(
    classes: pd.DataFrame,
    targets: Mapping[str, float],
    overrides: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Service level per row: ``targets[abc_class]``, or ``overrides[abc_xyz]`` where given."""
    missing = set(classes["abc_class"]) - set(targets)
    if missing:
        raise ValueError(f"no service level configured for ABC class(es) {sorted(missing)}")
    sl = classes["abc_class"].map(dict(targets)).astype(float)
    if overrides:
        sl = classes["abc_xyz"].map(dict(overrides)).astype(float).fillna(sl)
    _check(sl.to_numpy())
    return sl.to_numpy()


def cost_service_levels(
    unit_value,
    shortage_cost: float,
    holding_rate: float,
    review_period: float,
    bounds: tuple[float, float] = (0.5, 0.995),
) -> np.ndarray:
    """Newsvendor service level per item: ``p / (p + h v R / 365)``, clipped to ``bounds``.

    ``p`` is the cost of a lost unit (currency), ``h`` the annual holding rate (share of value),
    ``v`` the unit value and ``R`` the review period in days.
    """
    v = np.asarray(unit_value, float)
    over = holding_rate * np.where(np.isfinite(v), v, np.nanmedian(v)) * review_period / 365.0
    sl = shortage_cost / (shortage_cost + np.maximum(over, 1e-12))
    sl = np.clip(sl, *bounds)
    _check(sl)
    return sl


def _check(sl: np.ndarray) -> None:
    if np.any(~np.isfinite(sl)) or np.any((sl <= 0) | (sl >= 1)):
        raise ValueError(f"service levels must be in (0, 1), got {np.unique(sl)[:10]}")
