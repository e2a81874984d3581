"""Planner service: ``bentoml serve serving.planner_service:PlannerService``.

Serves today's reorder suggestions (``pipelines.plan_inventory``), the champion forecast
(``forecast_*@champion``, version pinned at build time) and ``POST /route`` (order routing, when
``pipelines.route_orders`` left a routing snapshot), packaged by
``pipelines.build_services``. Every business endpoint needs ``Authorization: Bearer <key>``.
"""

from __future__ import annotations

import datetime
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

import bentoml
from pydantic import BaseModel, Field

from src.serve import WORKERS
from src.serve.auth import BearerAuth, JsonBodies
from src.serve.errors import ClientError, NotFound
from src.serve.hardening import harden
from src.serve.planner import MAX_LIMIT, PlannerBundle
from src.serve.routing import RouteBook
from src.serve.schemas import ModelInfo, answer, error_response

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


class Shipment(BaseModel):
    location_id: str
    cost: float
    delivery_days: int | None
    lines: list[dict[str, Any]]


class Routed(BaseModel):
    order_id: str
    zone: str
    shipments: list[Shipment] = Field(description="one parcel per node, cheapest plan first")
    unfilled: list[dict[str, Any]] = Field(description="lines no node can ship now")
    cost: float = Field(description="handling + shipping of the shipments")
    delivery_days: int | None
    reason: str
    repeated: bool = Field(description="true when this order id was routed before (retry)")


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
        snapshot = Path(self.bundle_ref.path) / "routing"
        self.router = None
        if (snapshot / "routing.json").exists():
            db = os.environ.get("RETAIL_BRAIN_RESERVATIONS") or str(
                Path(tempfile.gettempdir()) / "retail-brain-reservations.db"
            )
            self.router = RouteBook(snapshot, db)

    @bentoml.api(route="/route")
    def route(
        self,
        order_id: Annotated[str, Field(min_length=1, max_length=200)],
        zone: Annotated[str, Field(min_length=1, max_length=100)],
        skus: Annotated[list[Sku], Field(min_length=1, max_length=100)],
        qty: Annotated[
            list[float] | None,  # > 0 each: checked by the route book (a 422 that says so)
            Field(max_length=100, description="units per line, as skus (default: 1 each)"),
        ] = None,
        promised_days: Annotated[int | None, Field(strict=True, ge=0, le=60)] = None,
    ) -> Routed:
        """The node(s) that ship one online order, its cost and delivery, with the units
        reserved (concurrent calls never get the same unit; re-sending an order id is safe)."""
        if self.router is None:
            return error_response(NotFound("routing is not packaged: run `make route-orders`, "
                                           "then `make build-services`"))  # fmt: skip
        qty = qty if qty is not None else [1.0] * len(skus)
        if len(qty) != len(skus):
            return error_response(ClientError(
                f"qty needs one value per SKU: {len(skus)} skus, {len(qty)} qty", status=422))  # fmt: skip
        lines = [{"sku": s, "qty": q} for s, q in zip(skus, qty, strict=True)]
        today = datetime.date.today().isoformat()
        return answer(Routed, self.router.route, order_id, zone, lines, today, promised_days)

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
