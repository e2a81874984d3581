"""The feature sets retail-brain builds, each a small frozen spec with one ``build`` function.

| set | tables (partitioned by) | read by |
| --- | --- | --- |
| ``demand_<level>_<freq>`` | ``panel`` (unique_id), ``static`` (unique_id) | forecasting, tuning, planning |
| ``interactions`` | ``interactions`` (customer_id): one row per purchase | recommenders, tuning |
| ``customers`` | ``profile`` (customer_id): country, first/last seen; ``rfm`` (customer_id) | recommenders (segments), marketers |
| ``catalog`` | ``items``, ``channel_items`` (last sale per channel x SKU), ``locations`` | recommenders, planning, services |

A spec's ``params()`` are what make two builds the same; ``sources`` are the canonical tables
it is built from (their fingerprint decides whether a stored version is current). The store
(:mod:`src.features.store`) does the rest. :func:`from_config` turns the ``features`` config
into these specs — there is one ``holiday_country`` and it lives there.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import ClassVar

import pandas as pd

from src.features import columns as C
from src.features.aipl import AiplWindows, aipl_flows, aipl_stages
from src.features.interactions import ORDER, interactions
from src.features.lifecycle import rfm
from src.features.panel import LEVELS, PanelSpec, demand_panel, panel_bounds
from src.features.store import FeatureStore, TableLayout

UNPARTITIONED = TableLayout(None, ())


class FeatureSpec(ABC):
    kind: ClassVar[str]
    sources: ClassVar[tuple[str, ...]]
    layouts: ClassVar[Mapping[str, TableLayout]]

    @property
    def name(self) -> str:
        return self.kind

    def params(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.params().items() if v is not None)
        return f"{self.name} ({args})" if args else self.name

    def layout(self, table: str) -> TableLayout:
        return self.layouts.get(table, UNPARTITIONED)

    #: builds one partition of partitioned canonical transactions at a time (whole SKUs in each)
    by_partition: ClassVar[bool] = False
    #: the transaction columns a partition build reads
    transaction_columns: ClassVar[tuple[str, ...]] = ()

    def partition_bounds(self, transactions: pd.DataFrame, products: pd.DataFrame):
        """What every partition must agree on, from one partition (combined by ``combine``)."""
        raise NotImplementedError(f"{self.name} is not built per partition")

    def build_partition(self, transactions, products, bounds) -> dict[str, pd.DataFrame]:
        """Table name -> frame for one partition of the transactions, given combined bounds."""
        raise NotImplementedError(f"{self.name} is not built per partition")

    @abstractmethod
    def build(self, tables) -> dict[str, pd.DataFrame]:
        """Table name -> frame, from :class:`~src.features.tables.CanonicalTables`."""


@dataclass(frozen=True)
class DemandSet(FeatureSpec):
    """The demand panel (``unique_id, ds, y`` + covariates) and its ``static_df``."""

    panel: PanelSpec
    kind: ClassVar[str] = "demand"
    sources: ClassVar[tuple[str, ...]] = ("transactions", "products")
    layouts: ClassVar[Mapping[str, TableLayout]] = {
        "panel": TableLayout(C.UNIQUE_ID, (C.UNIQUE_ID, C.DS)),
        "static": TableLayout(C.UNIQUE_ID, (C.UNIQUE_ID,)),
    }

    @property
    def name(self) -> str:
        return f"demand_{self.panel.name}"

    def params(self) -> dict:
        return asdict(self.panel)

    def build(self, tables) -> dict[str, pd.DataFrame]:
        panel, static = demand_panel(tables.transactions, tables.products, self.panel)
        return {"panel": panel, "static": static}

    transaction_columns: ClassVar[tuple[str, ...]] = (
        C.ORDER_ID,
        C.TS,
        C.SKU,
        C.LOCATION_ID,
        C.QTY,
        C.UNIT_PRICE,
        C.PROMO,
        C.LINE_TYPE,
        C.LINKED_ORDER_ID,
    )

    @property
    def by_partition(self) -> bool:  # series keyed by SKU lie whole in a SKU partition
        return C.SKU in LEVELS[self.panel.level]

    def partition_bounds(self, transactions, products):
        return panel_bounds(transactions, products, self.panel)

    def build_partition(self, transactions, products, bounds) -> dict[str, pd.DataFrame]:
        panel, static = demand_panel(transactions, products, self.panel, bounds=bounds)
        return {"panel": panel, "static": static}


@dataclass(frozen=True)
class InteractionSet(FeatureSpec):
    """Purchase events (:mod:`src.features.interactions`), weighted by ``value``."""

    value: str = "count"
    kind: ClassVar[str] = "interactions"
    sources: ClassVar[tuple[str, ...]] = ("transactions", "products")
    layouts: ClassVar[Mapping[str, TableLayout]] = {
        "interactions": TableLayout(C.CUSTOMER_ID, tuple(ORDER)),
    }

    def build(self, tables) -> dict[str, pd.DataFrame]:
        return {
            "interactions": interactions(tables.transactions, tables.products, value=self.value)
        }


@dataclass(frozen=True)
class CustomerSet(FeatureSpec):
    """Customer profiles (segment = country), RFM scores with lifecycle stages, and AIPL stages
    per customer and period with the flows between them (src/features/aipl.py)."""

    n_bins: int = 5
    new_days: int = 30
    active_days: int = 90
    at_risk_days: int = 180
    aipl_period: str = "MS"
    awareness_days: int = 90
    interest_days: int = 30
    purchase_days: int = 180
    loyalty_days: int = 365
    loyalty_orders: int = 2
    kind: ClassVar[str] = "customers"
    sources: ClassVar[tuple[str, ...]] = ("transactions", "products", "customers", "events")
    layouts: ClassVar[Mapping[str, TableLayout]] = {
        "profile": TableLayout(C.CUSTOMER_ID, (C.CUSTOMER_ID,)),
        "rfm": TableLayout(C.CUSTOMER_ID, (C.CUSTOMER_ID,)),
        "aipl": TableLayout(C.CUSTOMER_ID, (C.CUSTOMER_ID, "period")),
        "aipl_flows": TableLayout(None, ("period", "from_stage", "to_stage")),
    }

    def thresholds(self) -> dict[str, int]:
        return {
            "new_days": self.new_days,
            "active_days": self.active_days,
            "at_risk_days": self.at_risk_days,
        }

    def windows(self) -> AiplWindows:
        return AiplWindows(
            period=self.aipl_period,
            awareness_days=self.awareness_days,
            interest_days=self.interest_days,
            purchase_days=self.purchase_days,
            loyalty_days=self.loyalty_days,
            loyalty_orders=self.loyalty_orders,
        )

    def build(self, tables) -> dict[str, pd.DataFrame]:
        stages = aipl_stages(tables.transactions, tables.events, self.windows())
        return {
            "profile": tables.customers,
            "rfm": rfm(
                tables.transactions, tables.products, n_bins=self.n_bins, **self.thresholds()
            ),
            "aipl": stages,
            "aipl_flows": aipl_flows(stages),
        }


CHANNEL_ITEMS = [C.CHANNEL, C.SKU, C.LAST_SEEN]


@dataclass(frozen=True)
class CatalogSet(FeatureSpec):
    """Items (merchandise flag, names, categories, unit cost), where each sells, locations."""

    kind: ClassVar[str] = "catalog"
    sources: ClassVar[tuple[str, ...]] = ("transactions", "products", "locations")
    layouts: ClassVar[Mapping[str, TableLayout]] = {
        "items": TableLayout(None, (C.SKU,)),
        "channel_items": TableLayout(None, (C.CHANNEL, C.SKU)),
        "locations": TableLayout(None, (C.LOCATION_ID,)),
    }

    def build(self, tables) -> dict[str, pd.DataFrame]:
        tx = tables.transactions
        last = (
            tx.dropna(subset=[C.CHANNEL])
            .groupby([C.CHANNEL, C.SKU], observed=True)[C.TS]
            .max()
            .rename(C.LAST_SEEN)
            .reset_index()
        )
        return {
            "items": tables.products,
            "channel_items": last[CHANNEL_ITEMS].astype({C.CHANNEL: "string", C.SKU: "string"}),
            "locations": tables.locations,
        }


def channel_skus(channel_items: pd.DataFrame, channel: str, days: int = 90) -> set[str]:
    """SKUs sold in ``channel`` during its last ``days`` days (per-channel availability)."""
    rows = channel_items[channel_items[C.CHANNEL] == channel]
    if rows.empty:
        return set()
    recent = rows[rows[C.LAST_SEEN] > rows[C.LAST_SEEN].max() - pd.Timedelta(days=days)]
    return set(recent[C.SKU].astype(str))


# --- from configuration -----------------------------------------------------------------------


def demand_set(features: Mapping, level: str, freq: str) -> DemandSet:
    return DemandSet(PanelSpec(level=level, freq=freq, holiday_country=features["holiday_country"]))


def interaction_set(features: Mapping) -> InteractionSet:
    return InteractionSet(**dict(features["interactions"]))


def customer_set(features: Mapping) -> CustomerSet:
    return CustomerSet(**dict(features["rfm"]), **dict(features.get("aipl") or {}))


def from_config(features: Mapping) -> list[FeatureSpec]:
    """Every feature set ``build_features`` writes: the configured panels and the rest."""
    panels = [demand_set(features, p["level"], p["freq"]) for p in features["panels"]]
    return [*panels, interaction_set(features), customer_set(features), CatalogSet()]


def open_store(features: Mapping, features_dir: str, tables_dir: str) -> FeatureStore:
    return FeatureStore(
        features_dir,
        tables_dir,
        partitions=int(features["partitions"]),
        on_missing=str(features["on_missing"]),
        keep_versions=int(features["keep_versions"]),
    )
