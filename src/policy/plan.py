"""Today's plan as a pure function: forecast + demand history + stock + terms -> suggestions.

:func:`make_plan` reads nothing and writes nothing: the pipeline (:mod:`src.policy.pipeline`)
hands it the champion's quantile forecast, the demand panel, the catalogue's unit costs, the
stock positions and the supply terms, and gets back the suggestions (DESIGN.md contract +
reasons + review flags), the transfers, the newsvendor season buys when asked, and the classes
and unit values the evidence (simulation) reuses.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from src.features import columns as C
from src.forecast.paths import (
    comonotone,
    daily_path_blocks,
    forecast_arrays,
    horizon_needed,
    period_demand,
)
from src.inventory.keys import split_ids
from src.inventory.stock import positions
from src.inventory.supply import supply_terms
from src.policy.classify import class_service_levels, classify, cost_service_levels
from src.policy.levels import PolicySpec, policy_levels, protection_samples
from src.policy.policies import critical_ratio, newsvendor_quantity
from src.policy.suggest import SUGGESTION_COLUMNS, plan_transfers, suggestions

log = logging.getLogger(__name__)


@dataclass
class Plan:
    keys: pd.DataFrame  # unique_id, location_id, sku, abc_class, xyz_class, abc_xyz
    classes: pd.DataFrame  # per series of the panel
    unit_value: np.ndarray
    spec: PolicySpec
    suggestions: pd.DataFrame
    transfers: pd.DataFrame
    newsvendor: pd.DataFrame | None


def policy_spec(pcfg: Mapping) -> PolicySpec:
    return PolicySpec(
        kind=pcfg["kind"],
        review_period=int(pcfg["review_period"]),
        lead_time_std=float(pcfg["lead_time_std"]),
        rho=float(pcfg["rho"]),
        draws=int(pcfg["draws"]),
        seed=int(pcfg["seed"]),
        lot_size_days=float(pcfg["lot_size_days"]),
        order_cost=float(pcfg["order_cost"]),
        holding_rate=float(pcfg["holding_rate"]),
    )


def keys_with_classes(forecast_ids, level: str, network: str, classes: pd.DataFrame):
    keys = split_ids(forecast_ids, level, network)
    keys = keys.merge(
        classes[[C.UNIQUE_ID, "abc_class", "xyz_class", "abc_xyz"]], on=C.UNIQUE_ID, how="left"
    )
    keys["abc_class"] = keys["abc_class"].fillna("C")
    keys["xyz_class"] = keys["xyz_class"].fillna("Z")
    keys["abc_xyz"] = keys["abc_class"] + keys["xyz_class"]
    return keys


def make_plan(
    forecast: pd.DataFrame,
    panel: pd.DataFrame,
    items: pd.DataFrame,
    locations: pd.DataFrame,
    inventory: pd.DataFrame,
    terms: pd.DataFrame | None,
    pcfg: Mapping,
    level: str,
    source: str = "the forecast",
) -> Plan:
    """The plan for every series of ``forecast``.

    ``items`` and ``locations`` come from the catalog feature set, ``inventory`` is the canonical
    stock table, ``terms`` the supply terms file (or None); ``source`` names the forecast in
    error messages.
    """
    spec = policy_spec(pcfg)
    if comonotone(forecast) and spec.rho != 1.0:
        # a model of period sums: its days must be joined with rho = 1 to give back its sum
        log.info("%s: a forecast of period sums; its days are joined with rho = 1", source)
        spec.rho = 1.0
    ids, dates, mean, q, levels = forecast_arrays(forecast)
    c = pcfg["classes"]
    classes = classify(panel, c["abc"], c["xyz"], c["lookback_days"], c["xyz_freq"])
    keys = keys_with_classes(ids, level, pcfg["network_location"], classes)
    terms = supply_terms(keys, locations, pcfg, terms)
    value = unit_values(keys, panel, items)
    sl = service_levels(keys, value, pcfg, spec)
    need = horizon_needed(
        terms["lead_time_days"].max(),
        spec.review_period if spec.kind == "RS" else 0,
        terms["lead_time_std"].max(),
    )
    if need > mean.shape[1]:
        raise ValueError(
            f"{source}: forecast covers {mean.shape[1]} days, the policy needs {need} "
            f"(lead time + review period + 3 sd); raise granularity.horizon"
        )
    ncfg = pcfg["newsvendor"]
    if ncfg["enabled"] and int(ncfg["season_days"]) > mean.shape[1]:
        raise ValueError(
            f"policy.newsvendor.season_days={ncfg['season_days']} exceeds the "
            f"forecast horizon of {mean.shape[1]} days ({source})"
        )
    lt = terms["lead_time_days"].to_numpy(float)
    spec.lead_time_std = float(terms["lead_time_std"].max())
    samples = protection_samples(q, levels, lt, spec)
    lv = policy_levels(mean, q, levels, sl, lt, spec, value, samples)
    table = suggestions(
        keys[[C.LOCATION_ID, C.SKU, "abc_class", "xyz_class"]],
        lv,
        positions(keys, inventory, pcfg["network_location"]),
        spec.kind,
        sl,
        lt,
        terms["moq"].to_numpy(float),
        terms["case_pack"].to_numpy(float),
        value,
    )
    table = flag_for_review(table, keys, panel, float(pcfg["review_ratio"]))
    transfers = pd.DataFrame()
    if pcfg["transfers"]["enabled"]:
        table, transfers = plan_transfers(table, float(pcfg["transfers"]["excess_days"]))
    table.insert(len(SUGGESTION_COLUMNS), "as_of", dates[0] - pd.Timedelta(days=1))
    nv = newsvendor(keys, q, levels, value, ncfg, spec) if ncfg["enabled"] else None
    return Plan(keys, classes, value, spec, table, transfers, nv)


def flag_for_review(
    table: pd.DataFrame, keys: pd.DataFrame, panel: pd.DataFrame, ratio: float
) -> pd.DataFrame:
    """``review_flag``: why a planner should look before acting (empty when nothing stands out).

    * ``no stock record`` — on hand was taken as 0;
    * ``level above history`` — the order-up-to level exceeds ``ratio`` x the largest demand
      over the same number of days in the last year (a forecast spike, or a trend break).
    """
    days = max(int(np.median(table["protection_days"])), 1)
    recent = panel[panel[C.DS] > panel[C.DS].max() - pd.Timedelta(days=365)]
    peak = (
        recent.sort_values([C.UNIQUE_ID, C.DS])
        .groupby(C.UNIQUE_ID)[C.Y]
        .rolling(days, min_periods=1)
        .sum()
        .groupby(level=0)
        .max()
    )
    peak = keys[C.UNIQUE_ID].map(peak).fillna(0.0).to_numpy(float)
    flags = []
    for known, level, p in zip(table["inventory_known"], table["order_up_to"], peak, strict=True):
        f = [] if known else ["no stock record"]
        if level > ratio * max(p, 1.0):
            f.append(
                f"level above history (S {level:.0f} > {ratio:g} x peak {days}-day demand {p:.0f})"
            )
        flags.append("; ".join(f))
    out = table.copy()
    out["review_flag"] = flags
    return out


def unit_values(keys: pd.DataFrame, panel: pd.DataFrame, items: pd.DataFrame) -> np.ndarray:
    """Unit value for stock: the catalogue's unit cost where known, else the median sale price."""
    cost = keys[C.SKU].map(items.set_index(C.SKU)[C.UNIT_COST]) if len(items) else None
    price = (
        panel.groupby(C.UNIQUE_ID)[C.PRICE].median() if C.PRICE in panel else pd.Series(dtype=float)
    )
    v = keys[C.UNIQUE_ID].map(price).astype(float)
    if cost is not None:
        v = pd.to_numeric(cost, errors="coerce").astype(float).where(lambda x: x > 0).fillna(v)
    fill = float(np.nanmedian(v)) if v.notna().any() else 1.0
    return v.fillna(fill).to_numpy(float)


def service_levels(
    keys: pd.DataFrame, value: np.ndarray, pcfg: Mapping, spec: PolicySpec
) -> np.ndarray:
    sl = pcfg["service_level"]
    if sl["mode"] == "class":
        return class_service_levels(keys, sl["targets"], sl.get("overrides") or None)
    if sl["mode"] == "cost":
        return cost_service_levels(
            value, float(sl["shortage_cost"]), spec.holding_rate, spec.review_period
        )
    level = float(sl["mode"])
    if not 0 < level < 1:
        raise ValueError(
            f"policy.service_level.mode must be class, cost or a number in (0, 1); got {level}"
        )
    return np.full(len(keys), level)


def newsvendor(keys, q, levels, value, ncfg: Mapping, spec: PolicySpec) -> pd.DataFrame:
    """One-shot season buy per row: the critical-ratio quantile of demand over ``season_days``."""
    days = int(ncfg["season_days"])
    price = value * float(ncfg["price_over_value"])
    ratio = critical_ratio(
        price, value, value * float(ncfg["salvage_share"]), float(ncfg["shortage_penalty"])
    )
    season = np.empty((len(q), spec.draws))
    for start, paths in daily_path_blocks(q, levels, spec.draws, spec.rho, spec.seed):
        season[start : start + len(paths)] = period_demand(paths, days)
    out = keys[[C.LOCATION_ID, C.SKU]].copy()
    out["season_days"] = days
    out["critical_ratio"] = ratio
    out["expected_demand"] = season.mean(axis=1)
    out["buy_qty"] = np.ceil(newsvendor_quantity(season, ratio))
    return out
