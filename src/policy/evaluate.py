"""Policies compared on history: rolling re-forecasts, named policies, simulations.

Used by ``pipelines.plan_inventory`` (the evidence beside today's suggestions) and by
``benchmarks.bench_policy`` (the published protocol). On each review day the forecaster is
refitted on data strictly *before* that day, so no policy ever sees the demand it is judged on.

Policy types (config ``policy.simulation.policies``; every entry ``{type: …, …}``):

* ``forecast`` — levels from the quantile forecast (:func:`src.policy.levels.policy_levels`):
  ``kind`` RS|sS|sQ, ``service_level`` a number, ``class`` (ABC targets) or ``cost``
  (newsvendor per item from ``shortage_cost`` and the holding rate);
* ``days_of_supply`` — rule of thumb: order up to ``days`` x the trailing ``window``-day mean;
* ``normal`` — the textbook rule: ``mean + z sd`` of demand over ``L + R`` from the trailing
  ``window``-day daily mean and sd (lead-time variance included), ``z`` given or from a
  ``service_level``.

An entry may carry ``sweep: {key: [values…]}`` to trace a frontier: one policy per value,
named ``name[key=value]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from src.compute import current, describe_ids
from src.features import columns as C
from src.features.store import bucket
from src.forecast.backtest import refit_forecasts
from src.forecast.base import Forecaster, to_wide
from src.forecast.paths import (
    M5_QUANTILES,
    forecast_arrays,
    horizon_needed,
    period_sum_scale,
    protection_losses,
)
from src.policy.classify import class_service_levels, cost_service_levels
from src.policy.levels import PolicySpec, policy_levels, protection_samples
from src.policy.policies import normal_level, protection_moments
from src.policy.simulate import Plan, SimResult, SimSettings, merge, simulate

TYPES = ("forecast", "days_of_supply", "normal")
KPI_COLUMNS = [  # what a simulated policy is judged by (tables, MLflow metrics, reports)
    "fill_rate",
    "days_of_cover",
    "value_fill_rate",
    "cycle_service_level",
    "avg_on_hand_value",
    "avg_on_hand_units",
    "stockout_days",
    "orders_placed",
    "units_lost",
]


@dataclass
class OriginForecast:
    mean: np.ndarray  # (N, h), rows in the order of the evaluation's ids
    quantiles: np.ndarray  # (N, h, Q)
    levels: np.ndarray  # (Q,)


@dataclass
class History:
    """Everything a comparison needs, as arrays aligned on ``ids``."""

    ids: np.ndarray
    dates: pd.DatetimeIndex
    y: np.ndarray  # (N, T) full history incl. the evaluation window, zeros before a start
    start: int  # index in ``dates`` of the first simulated day
    days: int
    unit_value: np.ndarray
    lead_time: np.ndarray
    review_period: int

    @property
    def review_days(self) -> np.ndarray:
        return np.arange(0, self.days, self.review_period)

    @property
    def demand(self) -> np.ndarray:
        return self.y[:, self.start : self.start + self.days]


def history_from_panel(
    panel: pd.DataFrame,
    window_start: pd.Timestamp,
    days: int,
    lead_time,
    review_period: int,
    unit_value: pd.Series | None = None,
) -> History:
    ids, dates, y = to_wide(panel)
    y = np.nan_to_num(y, nan=0.0).clip(min=0)
    full = pd.date_range(dates.min(), dates.max(), freq="D")
    if len(full) != len(dates):
        raise ValueError("the demand panel must be daily and gap-free for a simulation")
    if window_start not in dates:
        raise ValueError(f"simulation start {window_start.date()} is outside the history")
    start = dates.get_loc(window_start)
    if start + days > len(dates):
        raise ValueError(
            f"simulation window {window_start.date()} + {days} days runs past the last "
            f"date {dates.max().date()}"
        )
    if unit_value is None:
        if C.PRICE in panel:
            unit_value = panel.groupby(C.UNIQUE_ID)[C.PRICE].median()
        else:
            unit_value = pd.Series(1.0, index=ids)
    value = unit_value.reindex(ids).to_numpy(float)
    value = np.where(
        np.isfinite(value), value, np.nanmedian(value) if np.isfinite(value).any() else 1.0
    )
    lt = np.broadcast_to(np.asarray(lead_time, float), (len(ids),)).copy()
    return History(ids, dates, y, start, days, value, lt, review_period)


def rolling_forecasts(
    panel: pd.DataFrame,
    static: pd.DataFrame | None,
    make_model: Callable[[], Forecaster],
    history: History,
    horizon: int,
    known_covariates: Sequence[str] = (),
) -> dict[int, OriginForecast]:
    """Refit and forecast ``horizon`` days on every review day, on data before that day only
    (the forecasting refit loop, with each review day's eve as its cutoff)."""
    reviews = history.review_days
    eves = [history.dates[history.start + r] - pd.Timedelta(days=1) for r in reviews]
    origins = refit_forecasts(make_model, panel, static, eves, horizon, "D", known_covariates)
    out = {}
    for r, origin in zip(reviews, origins, strict=True):
        ids, _, mean, q, levels = forecast_arrays(origin.forecast)
        out[int(r)] = _align(history.ids, ids, mean, q, levels)
    return out


def protection_pinball(
    history: History,
    forecasts: Mapping[int, OriginForecast],
    rho: float,
    draws: int = 500,
    seed: int = 0,
    grid: Sequence[float] = M5_QUANTILES,
    also: Mapping[str, Sequence[float]] | None = None,
) -> dict[str, float]:
    """How well rolling forecasts state each review's lead-time + review demand — the quantity
    the policy orders from (its copula ``rho`` included): scaled pinball loss of the
    ``L + R``-day sums over every review origin at the quantile levels ``grid``, weighted by
    each series' value of demand over the 28 days before the window
    (:func:`src.forecast.paths.protection_losses`). The M5 grid scores the whole distribution; an
    order-up-to policy only reads its upper tail, which a grid of its service levels scores.
    ``also`` scores more grids on the same sampled paths (``wpspl_<days>_<name>``)."""
    days = int(np.rint(np.max(history.lead_time))) + int(history.review_period)
    before = history.y[:, : history.start]
    scale = period_sum_scale(before, days)
    w = history.unit_value * before[:, -28:].sum(axis=1)
    grids = {"": grid, **{f"_{k}": v for k, v in (also or {}).items()}}
    losses: dict[str, list[np.ndarray]] = {k: [] for k in grids}
    bands = []
    for r, fc in sorted(forecasts.items()):
        d = history.start + r
        if d + days > len(history.dates) or fc.quantiles.shape[1] < days:
            continue
        actual = history.y[:, d : d + days].sum(axis=1)
        per_grid, band = protection_losses(
            fc.quantiles[:, :days], fc.levels, actual, rho, draws, seed + r, list(grids.values())
        )
        for k, loss in zip(grids, per_grid, strict=True):
            losses[k].append(loss)
        bands.append(band)
    if not bands:
        raise ValueError(f"no review origin leaves {days} days of actuals to score")
    out: dict[str, float] = {}
    for k, per_origin in losses.items():
        with np.errstate(divide="ignore", invalid="ignore"):
            spl = np.mean(per_origin, axis=0) / scale
        ok = np.isfinite(spl) & (w > 0)
        out[f"wpspl_{days}{k}"] = (
            float(np.sum(spl[ok] * w[ok]) / w[ok].sum()) if ok.any() else np.nan
        )
    out[f"coverage90_{days}"] = float(np.mean(bands))
    out["origins"] = len(bands)
    return out


def _align(target_ids, ids, mean, q, levels) -> OriginForecast:
    """Rows in ``target_ids`` order; series the model did not forecast (no history yet) get 0."""
    pos = pd.Index(ids).get_indexer(target_ids)
    n, h = len(target_ids), mean.shape[1]
    m = np.zeros((n, h))
    qq = np.zeros((n, h, q.shape[2]))
    ok = pos >= 0
    m[ok], qq[ok] = mean[pos[ok]], q[pos[ok]]
    return OriginForecast(m, qq, levels)


def expand(policies: Mapping[str, Mapping]) -> dict[str, dict]:
    """Named policies with ``sweep`` entries unrolled into one policy per value."""
    out = {}
    for name, spec in policies.items():
        spec = dict(spec)
        if spec.get("type") not in TYPES:
            raise ValueError(
                f"policy {name!r}: type must be one of {TYPES}, got {spec.get('type')!r}"
            )
        sweep = spec.pop("sweep", None)
        if not sweep:
            out[name] = spec
            continue
        (key, values), *rest = sweep.items()
        if rest:
            raise ValueError(f"policy {name!r}: sweep one parameter at a time")
        for v in values:
            out[f"{name}[{key}={v}]"] = {**spec, key: v}
    return out


def build_plan(
    spec: Mapping,
    history: History,
    forecasts: Mapping[int, OriginForecast] | None,
    defaults: PolicySpec,
    classes: pd.DataFrame | None = None,
    class_targets: Mapping[str, float] | None = None,
    cache: dict | None = None,
) -> Plan:
    """The levels one named policy would have set on every review day."""
    reviews = history.review_days
    y, start, lt, R = history.y, history.start, history.lead_time, history.review_period
    kind = spec.get("kind", "RS")
    if spec["type"] == "days_of_supply":
        w = int(spec.get("window", 90))
        S = np.stack(
            [y[:, start + r - w : start + r].mean(1) * float(spec["days"]) for r in reviews]
        )
        return Plan("RS", S, reviews)
    if spec["type"] == "normal":
        w = int(spec.get("window", 90))
        rows = []
        for r in reviews:
            win = y[:, start + r - w : start + r]
            mean, sd = protection_moments(win.mean(1), win.std(1), lt, R, defaults.lead_time_std)
            rows.append(
                normal_level(mean, sd, float(spec["service_level"]))
                if "service_level" in spec
                else mean + float(spec.get("z", 1.645)) * sd
            )
        return Plan("RS", np.stack(rows), reviews)
    if forecasts is None:
        raise ValueError("forecast-driven policies need rolling forecasts")
    pspec = PolicySpec(
        **{
            **defaults.__dict__,
            "kind": kind,
            "review_period": R,
            **{k: spec[k] for k in ("rho", "lot_size_days", "draws") if k in spec},
        }
    )
    sl = _service_levels(spec, history, classes, class_targets, pspec)
    cache = {} if cache is None else cache
    S, s, Q = [], [], []
    for r in reviews:
        f = forecasts[int(r)]
        key = (int(r), pspec.rho, pspec.draws, pspec.seed, pspec.lead_time_std, R)
        if key not in cache:  # draws depend on the forecast, not on the service level
            cache[key] = protection_samples(f.quantiles, f.levels, lt, pspec)
        lv = policy_levels(
            f.mean, f.quantiles, f.levels, sl, lt, pspec, history.unit_value, cache[key]
        )
        S.append(lv.order_up_to)
        s.append(lv.reorder_point)
        Q.append(lv.lot_size)
    return Plan(kind, np.stack(S), reviews, np.stack(s), np.stack(Q))


def _service_levels(spec, history, classes, targets, pspec) -> np.ndarray:
    sl = spec.get("service_level", 0.95)
    if sl == "class":
        if classes is None or targets is None:
            raise ValueError("service_level=class needs ABC classes and targets")
        c = classes.set_index(C.UNIQUE_ID).reindex(history.ids)
        c["abc_class"] = c["abc_class"].fillna("C")
        c["abc_xyz"] = c["abc_xyz"].fillna("CZ")
        return class_service_levels(c.reset_index(), targets)
    if sl == "cost":
        return cost_service_levels(
            history.unit_value,
            float(spec["shortage_cost"]),
            float(spec.get("holding_rate", pspec.holding_rate)),
            pspec.review_period,
        )
    return np.full(len(history.ids), float(sl))


def compare(
    policies: Mapping[str, Mapping],
    history: History,
    forecasts: Mapping[int, OriginForecast] | None,
    defaults: PolicySpec,
    settings: SimSettings,
    classes: pd.DataFrame | None = None,
    class_targets: Mapping[str, float] | None = None,
) -> dict[str, SimResult]:
    """Simulate every named policy on the history window; starts at each plan's first ``S``."""
    results, cache = {}, {}
    for name, spec in expand(policies).items():
        plan = build_plan(spec, history, forecasts, defaults, classes, class_targets, cache)
        run = SimSettings(
            **{
                **settings.__dict__,
                "review_period": history.review_period,
                "lead_time": history.lead_time,
            }
        )
        results[name] = simulate(history.demand, plan, run, history.unit_value, None, history.ids)
        results[name].kpis["type"] = spec["type"]
    return results


def kpi_table(results: Mapping[str, SimResult]) -> pd.DataFrame:
    """One row per policy: ``policy, type`` and :data:`KPI_COLUMNS`."""
    rows = [
        {"policy": n, "type": r.kpis["type"], **{c: r.kpis[c] for c in KPI_COLUMNS}}
        for n, r in results.items()
    ]
    return pd.DataFrame(rows)


def simulate_history(
    panel: pd.DataFrame,
    static: pd.DataFrame | None,
    make_model: Callable[[], Forecaster],
    classes: pd.DataFrame,
    unit_value: pd.Series,
    pcfg: Mapping,
    spec: PolicySpec,
    known_covariates: Sequence[str] = (),
) -> tuple[pd.DataFrame, dict[str, SimResult], pd.DatetimeIndex]:
    """Replay the configured policies over the last ``window_days`` with weekly re-forecasts:
    ``(KPI table, results per policy, simulated dates)``."""
    scfg = pcfg["simulation"]
    days = int(scfg["window_days"])
    start = panel[C.DS].max() - pd.Timedelta(days=days - 1)
    lt = float(pcfg["lead_time_days"])
    hist = history_from_panel(panel, start, days, lt, spec.review_period, unit_value)
    fc = rolling_forecasts(
        panel,
        static,
        make_model,
        hist,
        horizon_needed(lt, spec.review_period, spec.lead_time_std),
        known_covariates,
    )
    settings = SimSettings(
        lead_time=lt,
        review_period=spec.review_period,
        lost_sales=bool(scfg["lost_sales"]),
        lead_time_std=spec.lead_time_std,
        seed=spec.seed,
    )
    # the replay re-plans every series on every review day: its own Monte-Carlo budget
    sim_spec = replace(spec, draws=int(scfg.get("draws") or spec.draws))
    groups = split_history(hist, fc, classes, int(scfg.get("partitions", 1)))
    parts = current().map(
        _simulate_group,
        groups,
        label="simulate policies",
        policies=scfg["policies"],
        spec=sim_spec,
        settings=settings,
        targets=pcfg["service_level"]["targets"],
    )
    res = {name: merge([p[name] for p in parts]) for name in parts[0]}
    return kpi_table(res), res, hist.dates[hist.start : hist.start + days]


@dataclass(frozen=True)
class SimGroup:
    """The policies' replay of one group of series (a partition), with its own forecasts."""

    index: int
    history: History
    forecasts: dict[int, OriginForecast]
    classes: pd.DataFrame | None

    def describe(self) -> str:
        return describe_ids(f"simulation group {self.index}", self.history.ids)


def split_history(
    hist: History,
    forecasts: Mapping[int, OriginForecast],
    classes: pd.DataFrame | None,
    partitions: int,
) -> list[SimGroup]:
    """The simulation's inputs split into groups of whole series by the feature store's hash."""
    group = bucket(pd.Series(hist.ids), max(partitions, 1))
    out = []
    for k in np.unique(group):
        m = group == k
        h = History(
            hist.ids[m],
            hist.dates,
            hist.y[m],
            hist.start,
            hist.days,
            hist.unit_value[m],
            hist.lead_time[m],
            hist.review_period,
        )
        f = {r: OriginForecast(o.mean[m], o.quantiles[m], o.levels) for r, o in forecasts.items()}
        c = None if classes is None else classes[classes[C.UNIQUE_ID].isin(set(h.ids))]
        out.append(SimGroup(int(k), h, f, c))
    return out


def _simulate_group(group: SimGroup, policies, spec, settings, targets) -> dict[str, SimResult]:
    return compare(policies, group.history, group.forecasts, spec, settings, group.classes, targets)
