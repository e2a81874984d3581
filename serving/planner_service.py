"""Planner service: ``bentoml serve serving.planner_service:PlannerService``.

Serves today's reorder suggestions (``pipelines.plan_inventory``) and the champion forecast
(``forecast_*@champion``, version pinned at build time), packaged by
``pipelines.build_services``. Every business endpoint needs ``Authorization: Bearer <key>``.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

import bentoml
from pydantic import BaseModel, Field

from src.serve import WORKERS
from src.serve.auth import BearerAuth, JsonBodies
from src.serve.hardening import harden
from src.serve.planner import MAX_LIMIT, PlannerBundle
from src.serve.schemas import ModelInfo, answer

MODEL_TAG = os.environ.get("RETAIL_BRAIN_PLANNER_MODEL", "retail-brain-planner:latest")

Sku = Annotated[str, Field(min_length=1, max_length=100)]
Location = Annotated[str, Field(min_length=1, max_length=200)]


class Suggestions(BaseModel):
    as_of: str | None
    total: int = Field(description="rows matching the filters")
    returned: int
    suggestions: list[dict[str, Any]] = Field(
        description="rows of the plan (DESIGN.md columns, then reasons), largest order value first"
    )
    forecast_model: ModelInfo


class Point(BaseModel):
    ds: str
    y_hat: float | None
    quantiles: dict[str, float | None]


class Forecast(BaseModel):
    sku: str
    location_id: str | None
    horizon: int
    points: list[Point]
    model: ModelInfo


@bentoml.service(name="retail-brain-planner", workers=WORKERS, traffic={"timeout": 30})
class PlannerService:
    bundle_ref = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        self.bundle = PlannerBundle(self.bundle_ref.path)

    @bentoml.api(route="/reorder_suggestions")
    def reorder_suggestions(
        self,
        location_id: Location | None = None,
        skus: Annotated[list[Sku], Field(max_length=10_000)] = [],  # noqa: B006
        abc_class: list[Literal["A", "B", "C"]] = [],  # noqa: B006
        only_orders: Annotated[bool, Field(strict=True)] = False,
        limit: Annotated[int, Field(strict=True, ge=1, le=MAX_LIMIT)] = 100,
    ) -> Suggestions:
        """Today's suggestions, filtered by location, SKUs and ABC class, largest orders first."""
        return answer(
            Suggestions,
            self.bundle.reorder_suggestions,
            location_id,
            skus,
            abc_class,
            only_orders,
            limit,
        )

    @bentoml.api(route="/forecast")
    def forecast(
        self,
        sku: Sku,
        location_id: Location | None = None,
        horizon: Annotated[
            int | None, Field(strict=True, ge=1, le=366, description="days; default: all stored")
        ] = None,
    ) -> Forecast:
        """Point forecast and quantiles per day from the champion's stored forecast."""
        return answer(Forecast, self.bundle.forecast_for, sku, location_id, horizon)


PlannerService.add_asgi_middleware(JsonBodies)
PlannerService.add_asgi_middleware(BearerAuth)
harden(PlannerService)  # offline docs, client errors at INFO, /metrics labelled by route
