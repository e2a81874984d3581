"""Policy levels (safety stock, reorder point, order-up-to, lot size) from quantile forecasts.

``policy_levels`` is the one place where a forecast becomes levels; the planner pipeline, the
simulation and the benchmark all call it. Inputs are arrays for N series (one forecast origin).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from src.forecast.paths import daily_path_blocks, lead_time_draws, period_demand
from src.policy.policies import POLICIES, economic_order_quantity, level_from_samples, safety_stock


@dataclass
class PolicySpec:
    """How levels are set. Lead times may differ per series; the rest is shared.

    ``kind``: ``RS`` (periodic review, order up to ``S`` every ``review_period`` days), ``sS`` or
    ``sQ`` (continuous review). ``lot_size_days`` sets ``Q`` (and ``S - s``) as days of mean
    demand unless ``order_cost > 0``, in which case Wilson's EOQ is used. ``rho``: how strongly
    forecast errors on different days move together (see :mod:`src.forecast.paths`).
    """

    kind: str = "RS"
    review_period: int = 7
    lead_time_std: float = 0.0
    rho: float = 0.5
    draws: int = 1000
    seed: int = 0
    lot_size_days: float = 14.0
    order_cost: float = 0.0
    holding_rate: float = 0.25

    def __post_init__(self):
        if self.kind not in POLICIES:
            raise ValueError(f"unknown policy kind {self.kind!r}; known: {POLICIES}")
        if self.review_period < 1:
            raise ValueError("review_period must be at least 1 day")


@dataclass
class Levels:
    expected_demand: np.ndarray  # over the protection period (L + R for RS, L otherwise)
    mean_daily: np.ndarray
    safety_stock: np.ndarray
    reorder_point: np.ndarray  # demand quantile over the lead time
    order_up_to: np.ndarray
    lot_size: np.ndarray
    expected_fill_rate: np.ndarray
    protection_days: np.ndarray


def policy_levels(
    mean: np.ndarray,
    quantiles: np.ndarray,
    levels: np.ndarray,
    service_level,
    lead_time,
    spec: PolicySpec,
    unit_value=None,
    samples: tuple[np.ndarray, np.ndarray] | None = None,
) -> Levels:
    """Levels for N series from a forecast ``mean (N, h)`` and ``quantiles (N, h, Q)``.

    ``samples``: demand draws over ``L`` and ``L + R`` from :func:`protection_samples`, when the
    caller reuses them across service levels (they depend only on the forecast and ``spec``).
    """
    n, h = mean.shape
    sl = np.broadcast_to(np.asarray(service_level, float), (n,))
    lt = np.broadcast_to(np.asarray(lead_time, float), (n,))
    review = spec.review_period if spec.kind == "RS" else 0
    need = lt + review + 3 * spec.lead_time_std
    if np.any(need > h):
        raise ValueError(
            f"forecast horizon {h} is shorter than lead time + review period "
            f"({int(need.max())} days) for some series; forecast further ahead"
        )
    d_l, d_lr = samples if samples is not None else protection_samples(quantiles, levels, lt, spec)
    csum = np.concatenate([np.zeros((n, 1)), np.cumsum(mean, axis=1)], axis=1)
    rows = np.arange(n)
    e_l = csum[rows, np.rint(lt).astype(int)]
    e_lr = csum[rows, np.rint(lt + spec.review_period).astype(int).clip(max=h)]
    mean_daily = e_lr / np.maximum(lt + spec.review_period, 1.0)
    rop = level_from_samples(d_l, sl)
    if spec.order_cost > 0 and unit_value is not None:
        lot = economic_order_quantity(
            mean_daily * 365, spec.order_cost, spec.holding_rate * np.asarray(unit_value, float)
        )
    else:
        lot = mean_daily * spec.lot_size_days
    lot = np.where(mean_daily > 1e-9, np.maximum(lot, 1.0), 0.0)  # no demand, no lot
    if spec.kind == "RS":
        S = level_from_samples(d_lr, sl)
        ss = safety_stock(S, e_lr)
        fill = _fill_periodic(d_l, d_lr, S)
        expected, days = e_lr, lt + spec.review_period
    else:
        S = rop + lot
        ss = safety_stock(rop, e_l)
        fill = _fill_continuous(d_l, rop, lot)
        expected, days = e_l, lt
    return Levels(expected, mean_daily, ss, rop, S, lot, fill, np.asarray(days, float))


def _fill_periodic(d_l: np.ndarray, d_lr: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Fill rate of (R, S) with backorders: ``1 - (E[(D_{L+R}-S)+] - E[(D_L-S)+]) / E[D_R]``."""
    short = np.maximum(d_lr - S[:, None], 0).mean(1) - np.maximum(d_l - S[:, None], 0).mean(1)
    cycle = (d_lr - d_l).mean(1)
    return np.where(cycle > 1e-12, 1.0 - short / np.where(cycle > 1e-12, cycle, 1.0), 1.0).clip(
        0, 1
    )


def _fill_continuous(d_l: np.ndarray, s: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Fill rate of (s, Q): ``1 - E[(D_L - s)+] / Q``."""
    short = np.maximum(d_l - s[:, None], 0).mean(1)
    return (1.0 - short / np.maximum(q, 1e-12)).clip(0, 1)


def protection_samples(
    quantiles: np.ndarray, levels: np.ndarray, lead_time, spec: PolicySpec, rows: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Draws ``(N, draws)`` of demand over the lead time and over lead time + review period.

    Daily paths are drawn ``rows`` series at a time (:func:`daily_path_blocks`: the same values
    as drawing all at once), so memory grows with the block, not with the catalogue: 1,000 draws
    x 28 days cost ~0.2 MB per series per array, ~10 GB at once for the embedded catalogue."""
    n = quantiles.shape[0]
    lt = np.broadcast_to(np.asarray(lead_time, float), (n,))
    d_l = np.empty((n, spec.draws))
    d_lr = np.empty((n, spec.draws))
    # each distinct lead time draws its random lead times for all its series at once, as before
    groups = {value: np.flatnonzero(lt == value) for value in np.unique(lt)}
    drawn = {
        value: lead_time_draws(len(idx), spec.draws, value, spec.lead_time_std, spec.seed + 1)
        for value, idx in groups.items()
    }
    rank = np.empty(n, dtype=np.int64)  # row -> its position inside its lead-time group
    for idx in groups.values():
        rank[idx] = np.arange(len(idx))
    blocks = daily_path_blocks(quantiles, levels, spec.draws, spec.rho, spec.seed, rows)
    for start, paths in blocks:
        block_lt = lt[start : start + len(paths)]
        for value in np.unique(block_lt):
            local = np.flatnonzero(block_lt == value)
            rows_ = start + local
            lengths = drawn[value][rank[rows_]]
            d_l[rows_] = period_demand(paths[local], value, lead_times=lengths)
            d_lr[rows_] = period_demand(
                paths[local], value, extra_days=spec.review_period, lead_times=lengths
            )
    return d_l, d_lr


QUANTILE_GRID = np.array([0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975, 0.99])


def poisson_levels(rate, days: int, service_level: float, draws: int = 400) -> np.ndarray:
    """The level covering ``days`` days of Poisson demand at ``rate`` per day with probability
    ``service_level``, through :func:`policy_levels` (the same path as every other level: daily
    quantile forecasts -> demand paths -> the quantile of their sum). For demand known only as a
    rate — a store's walk-in trade whose reserve online orders must leave (order routing), or a
    simulated world's order-up-to levels."""
    from scipy.stats import poisson

    rate = np.asarray(rate, float).reshape(-1)
    out = np.zeros(len(rate))
    live = np.flatnonzero(rate > 0)
    if not len(live) or days < 1:
        return out
    mean = np.repeat(rate[live, None], days, axis=1)
    q = poisson.ppf(QUANTILE_GRID[None, None, :], mean[..., None])
    spec = PolicySpec(kind="sS", draws=draws, rho=0.0, lot_size_days=0.0)
    lv = policy_levels(mean, q, QUANTILE_GRID, service_level, np.full(len(live), float(days)), spec)
    out[live] = lv.reorder_point
    return out


def whole_units(level) -> np.ndarray:
    """A level in whole units: the smallest whole number covering it. Stock is counted in units,
    so a fractional level (a quantile interpolated between demand paths: 2.67, 0.9) holds a
    part-unit nothing can ship, and a store reserve of 1.37 units protects what 2 do."""
    return np.ceil(np.asarray(level, float) - 1e-9)
