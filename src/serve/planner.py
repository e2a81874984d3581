"""The planner bundle: today's reorder suggestions and the champion forecast, and requests.

Folder layout (imported into the BentoML model store by ``pipelines.build_services``):

* the ``suggestions`` output (its catalogue file name) — the plan of ``pipelines.plan_inventory``;
* ``forecast.parquet`` — the champion forecaster's stored forecast (from the registry version
  pinned at build time), with quantiles;
* ``bundle.json`` — forecast model name and version, plan date, granularity level.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from src.features import columns as C
from src.forecast.metrics import Y_HAT
from src.outputs import file_name
from src.outputs.ids import join_id
from src.serve.errors import ClientError, NotFound

MAX_LIMIT = 10_000
ABC = ("A", "B", "C")


def _clean(v):
    """JSON-safe scalars (NaN/inf -> None, numpy -> Python)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item"):
        v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            return None
    if isinstance(v, pd.Timestamp):
        return v.date().isoformat()
    return v


class PlannerBundle:
    def __init__(self, path: str | Path):
        path = Path(path)
        self.meta = json.loads((path / "bundle.json").read_text())
        s = pd.read_parquet(path / file_name("suggestions"))
        s[C.SKU] = s[C.SKU].astype(str)
        s[C.LOCATION_ID] = s[C.LOCATION_ID].astype(str)
        self.suggestions = s.sort_values("order_value", ascending=False, kind="stable")
        self.skus = set(s[C.SKU])
        self.locations = set(s[C.LOCATION_ID])
        f = pd.read_parquet(path / "forecast.parquet")
        f[C.UNIQUE_ID] = f[C.UNIQUE_ID].astype(str)
        self.quantile_cols = [c for c in f.columns if c.startswith("q")]
        self.forecast = {uid: g.sort_values(C.DS) for uid, g in f.groupby(C.UNIQUE_ID, sort=False)}
        self.horizon = max((len(g) for g in self.forecast.values()), default=0)
        self.level = self.meta.get("level", "sku")
        self.network = self.meta.get("network_location", "ALL")

    @property
    def model_info(self) -> dict:
        return {"name": self.meta["model_name"], "version": str(self.meta["model_version"])}

    def reorder_suggestions(
        self,
        location_id: str | None = None,
        skus: Sequence[str] | None = None,
        abc_class: Sequence[str] | None = None,
        only_orders: bool = False,
        limit: int = 100,
    ) -> dict:
        if not 1 <= limit <= MAX_LIMIT:
            raise ClientError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}", status=422)
        s = self.suggestions
        if location_id is not None:
            if location_id not in self.locations:
                raise NotFound(
                    f"unknown location_id {location_id!r}; known: {sorted(self.locations)[:20]}"
                )
            s = s[s[C.LOCATION_ID] == location_id]
        if skus:
            unknown = [k for k in skus if str(k) not in self.skus]
            if unknown:
                raise NotFound(f"unknown SKU(s): {unknown[:10]} (not in the plan)")
            s = s[s[C.SKU].isin([str(k) for k in skus])]
        if abc_class:
            bad = [c for c in abc_class if c not in ABC]
            if bad:
                raise ClientError(f"abc_class must be among {list(ABC)}, got {bad}", status=422)
            s = s[s["abc_class"].isin(list(abc_class))]
        if only_orders:
            s = s[s["order_qty"] > 0]
        total = len(s)
        rows = [
            {k: _clean(v) for k, v in r.items()} for r in s.head(limit).to_dict(orient="records")
        ]
        return {
            "as_of": self.meta.get("plan_as_of"),
            "total": total,
            "returned": len(rows),
            "suggestions": rows,
            "forecast_model": self.model_info,
        }

    def _series(self, sku: str, location_id: str | None) -> str:
        if self.level == "sku_location":
            if location_id is None:
                raise ClientError(
                    "location_id is required: forecasts are per SKU x location", status=422
                )
            return join_id(sku, location_id)
        if location_id not in (None, self.network):
            raise NotFound(f"forecasts are for the whole network (location_id {self.network!r})")
        return str(sku)

    def forecast_for(
        self, sku: str, location_id: str | None = None, horizon: int | None = None
    ) -> dict:
        """``horizon`` days (default: all the stored forecast has)."""
        horizon = self.horizon if horizon is None else horizon
        if not 1 <= horizon <= max(self.horizon, 1):
            raise ClientError(
                f"horizon must be between 1 and {self.horizon} days, got {horizon}", status=422
            )
        uid = self._series(str(sku), location_id)
        g = self.forecast.get(uid)
        if g is None:
            raise NotFound(
                f"no forecast for SKU {sku!r}" + (f" at {location_id!r}" if location_id else "")
            )
        g = g.head(horizon)
        points = [
            {
                "ds": pd.Timestamp(r[C.DS]).date().isoformat(),
                "y_hat": _clean(float(r[Y_HAT])),
                "quantiles": {c: _clean(float(r[c])) for c in self.quantile_cols},
            }
            for _, r in g.iterrows()
        ]
        return {
            "sku": str(sku),
            "location_id": location_id if self.level == "sku_location" else self.network,
            "horizon": len(points),
            "points": points,
            "model": self.model_info,
        }
