"""Replenishment policies as pure functions of demand distributions, positions and parameters.

Everything here works on NumPy arrays, one element per SKU x location, so a whole assortment is
one call. Notation (Silver, Pyke & Thomas, *Inventory and Production Management in Supply
Chains*, ch. 6-7):

* ``L`` lead time, ``R`` review period, both in days;
* inventory position ``IP = on hand + on order - backorders`` (what ordering decisions use);
* ``(R, S)``: every ``R`` days order ``S - IP``; ``S`` covers demand over ``L + R``;
* ``(s, S)``: continuous review; when ``IP <= s`` order up to ``S``; ``s`` covers demand over ``L``;
* ``(s, Q)``: continuous review; when ``IP <= s`` order the smallest multiple of ``Q`` that lifts
  ``IP`` above ``s``.

Levels come from the *distribution* of demand over the protection period (samples built from
the forecast quantiles, see :mod:`src.forecast.paths`); the normal approximation is kept as a
peer and for data without quantile forecasts.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

POLICIES = ("RS", "sS", "sQ")


def inventory_position(on_hand, on_order, backorders=0.0) -> np.ndarray:
    """``IP = on hand + on order - backorders``."""
    return np.asarray(on_hand, float) + np.asarray(on_order, float) - np.asarray(backorders, float)


def level_from_samples(samples: np.ndarray, service_level) -> np.ndarray:
    """The ``service_level`` quantile of each row of ``samples`` ``(n, draws)``.

    ``service_level`` is a scalar or one value per row. This is the order-up-to level (over
    ``L + R``) or the reorder point (over ``L``) for a cycle service level target.
    """
    samples = np.asarray(samples, float)
    sl = np.broadcast_to(np.asarray(service_level, float), samples.shape[:1])
    if np.any((sl <= 0) | (sl >= 1)):
        raise ValueError(f"service levels must be in (0, 1), got {np.unique(sl)}")
    ordered = np.sort(samples, axis=1)
    # 'inverted_cdf' (smallest sample whose ECDF >= sl): monotone in sl by construction
    idx = np.ceil(sl * ordered.shape[1]).astype(int) - 1
    idx = np.clip(idx, 0, ordered.shape[1] - 1)
    return ordered[np.arange(ordered.shape[0]), idx]


def normal_level(mean, std, service_level) -> np.ndarray:
    """``mean + z(service_level) * std`` — the textbook normal approximation."""
    z = stats.norm.ppf(np.asarray(service_level, float))
    return np.asarray(mean, float) + z * np.asarray(std, float)


def protection_moments(
    daily_mean, daily_std, lead_time, review_period=0.0, lead_time_std=0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of demand over ``L + R`` days with a random lead time.

    ``Var = (L + R) σ_d² + μ_d² σ_L²`` (independent days, lead time independent of demand).
    """
    mu = np.asarray(daily_mean, float)
    sd = np.asarray(daily_std, float)
    days = np.asarray(lead_time, float) + np.asarray(review_period, float)
    var = days * sd**2 + mu**2 * np.asarray(lead_time_std, float) ** 2
    return mu * days, np.sqrt(var)


def safety_stock(level, expected_demand) -> np.ndarray:
    """Stock held beyond the expected protection-period demand: ``level - E[D]`` (>= 0)."""
    return np.maximum(np.asarray(level, float) - np.asarray(expected_demand, float), 0.0)


def order_quantity(
    policy: str,
    position,
    order_up_to,
    reorder_point=None,
    lot_size=None,
) -> np.ndarray:
    """Units to order now (before rounding) under ``policy`` in :data:`POLICIES`.

    * ``RS``: ``max(S - IP, 0)`` — called on review days;
    * ``sS``: ``S - IP`` if ``IP <= s`` else 0;
    * ``sQ``: ``n Q`` with the smallest ``n`` such that ``IP + n Q > s``, if ``IP <= s``.
    """
    ip = np.asarray(position, float)
    S = np.asarray(order_up_to, float)
    if policy == "RS":
        return np.maximum(S - ip, 0.0)
    if reorder_point is None:
        raise ValueError(f"policy {policy!r} needs a reorder point s")
    s = np.asarray(reorder_point, float)
    trigger = ip <= s
    if policy == "sS":
        return np.where(trigger, np.maximum(S - ip, 0.0), 0.0)
    if policy == "sQ":
        if lot_size is None:
            raise ValueError("policy 'sQ' needs a lot size Q")
        Q = np.asarray(lot_size, float)
        safe = np.where(Q > 0, Q, 1.0)
        n = np.floor((s - ip) / safe) + 1
        return np.where(trigger & (Q > 0), n * safe, 0.0)
    raise ValueError(f"unknown policy {policy!r}; known: {POLICIES}")


def round_to_pack(qty, moq=0.0, case_pack=1.0) -> np.ndarray:
    """Round positive orders up to at least the MOQ, then up to a whole number of case packs.

    Zero stays zero (no order is forced by an MOQ); results are never negative. The MOQ is
    itself lifted to a case multiple, so the result satisfies both constraints.
    """
    q = np.maximum(np.asarray(qty, float), 0.0)
    pack = np.maximum(np.asarray(case_pack, float), 1.0)
    moq = np.maximum(np.asarray(moq, float), 0.0)
    positive = q > 1e-9
    lifted = np.maximum(q, moq)
    # a positive order is at least one pack: rounding lifted / pack to 9 decimals (against float
    # noise such as 12.000000001 packs) must not turn a tiny positive need into nothing
    rounded = np.maximum(np.ceil(np.round(lifted / pack, 9)), 1.0) * pack
    return np.where(positive, rounded, 0.0)


def economic_order_quantity(annual_demand, order_cost, holding_cost_per_unit_year) -> np.ndarray:
    """Wilson's EOQ ``sqrt(2 D K / h)`` — the default ``Q`` for ``(s, Q)`` and ``S - s`` for ``(s, S)``."""
    d = np.maximum(np.asarray(annual_demand, float), 0.0)
    h = np.maximum(np.asarray(holding_cost_per_unit_year, float), 1e-12)
    return np.sqrt(2.0 * d * np.asarray(order_cost, float) / h)


# --- one-shot buys ---------------------------------------------------------------------------


def critical_ratio(price, unit_cost, salvage=0.0, shortage_penalty=0.0) -> np.ndarray:
    """Newsvendor critical ratio ``Cu / (Cu + Co)``.

    Underage ``Cu = price - cost + shortage penalty`` (margin lost, plus goodwill), overage
    ``Co = cost - salvage`` (what an unsold unit loses).
    """
    cu = np.asarray(price, float) - np.asarray(unit_cost, float) + np.asarray(shortage_penalty)
    co = np.asarray(unit_cost, float) - np.asarray(salvage, float)
    if np.any(cu < 0) or np.any(co < 0):
        raise ValueError("newsvendor needs price + penalty >= cost >= salvage")
    total = cu + co
    return np.where(total > 0, cu / np.where(total > 0, total, 1.0), 0.5)


def newsvendor_quantity(samples: np.ndarray, ratio) -> np.ndarray:
    """Season buy that maximises expected profit: the critical-ratio quantile of season demand."""
    ratio = np.clip(np.asarray(ratio, float), 1e-6, 1 - 1e-6)
    return level_from_samples(samples, ratio)


# --- what a level is expected to deliver ------------------------------------------------------


def expected_fill_rate(samples: np.ndarray, available) -> np.ndarray:
    """``E[min(D, A)] / E[D]`` per row: the share of demand ``available`` units are expected to
    serve (1 where no demand is expected)."""
    d = np.asarray(samples, float)
    a = np.asarray(available, float)[:, None]
    served = np.minimum(d, np.maximum(a, 0.0)).mean(axis=1)
    demand = d.mean(axis=1)
    return np.where(demand > 1e-12, served / np.where(demand > 1e-12, demand, 1.0), 1.0)


def days_of_cover(stock, daily_demand) -> np.ndarray:
    """Stock / mean daily demand (inf where no demand is expected and stock is positive)."""
    s = np.asarray(stock, float)
    d = np.asarray(daily_demand, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(d > 1e-12, s / d, np.where(s > 0, np.inf, 0.0))
    return out
