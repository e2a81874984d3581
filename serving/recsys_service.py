"""Recommendation service for marketers: ``bentoml serve serving.recsys_service:RecommendationService``.

Serves the recommender bundle packaged by ``pipelines.build_services`` (the registry's
``recsys@champion``, version pinned at build time). The bundle loads once at start-up.
Every business endpoint needs ``Authorization: Bearer <key>`` (``RETAIL_BRAIN_API_KEYS``).

``GET /audiences/{name}`` serves the day's trigger audiences (the ``audiences`` output of
``make audiences``) from the marketing outputs folder ``RETAIL_BRAIN_MARKETING_DIR`` — read when
the file changes, not packaged: audiences are redrawn every day, the models are not.
"""

from __future__ import annotations

import os
import re
from typing import Annotated

import bentoml
import pandas as pd
from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, Field

from src import outputs
from src.serve import WORKERS
from src.serve.auth import BearerAuth, JsonBodies
from src.serve.hardening import harden
from src.serve.recsys import MAX_BATCH, MAX_K, RecsysBundle
from src.serve.schemas import ModelInfo, answer

MODEL_TAG = os.environ.get("RETAIL_BRAIN_RECSYS_MODEL", "retail-brain-recsys:latest")

CustomerId = Annotated[str, Field(min_length=1, max_length=200, description="One-ID customer id")]
Sku = Annotated[str, Field(min_length=1, max_length=100)]
K = Annotated[int, Field(strict=True, ge=1, le=MAX_K, description=f"number of items, 1..{MAX_K}")]
Flag = Annotated[bool, Field(strict=True)]  # true/false only: 1 or "yes" is a 400
Channel = Annotated[str | None, Field(max_length=100, description="only items sold there lately")]
ExcludeSkus = Annotated[list[Sku], Field(max_length=1000, description="never recommend these")]


class Item(BaseModel):
    sku: str
    rank: int
    score: float
    reason: str | None = Field(
        None, description="set where a fallback or rule applied, e.g. cold_start"
    )


class Recommendations(BaseModel):
    customer_id: str
    items: list[Item]
    model: ModelInfo


class Batch(BaseModel):
    results: list[Recommendations]


class Similar(BaseModel):
    sku: str
    items: list[Item]
    model: ModelInfo


MARKETING_DIR = os.environ.get("RETAIL_BRAIN_MARKETING_DIR")
AUDIENCE_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,100}$")
audiences_app = FastAPI(title="audiences", openapi_url=None, docs_url=None, redoc_url=None)
_audiences: dict = {"stamp": None, "frame": None}


def _audience_frame() -> pd.DataFrame | None:
    if not MARKETING_DIR:
        return None
    path = outputs.path({"marketing": MARKETING_DIR}, "audiences")
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        return None
    if stamp != _audiences["stamp"]:
        _audiences.update(stamp=stamp, frame=pd.read_parquet(path))
    return _audiences["frame"]


@audiences_app.get("/{name}")
def audience(
    name: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    group: Annotated[str | None, Query(pattern="^(treated|holdout)$")] = None,
) -> dict:
    """One audience of the latest run: customers with group (treated / holdout), reason and
    recommended SKUs, paged by ``limit`` / ``offset``."""
    if not AUDIENCE_NAME.match(name):
        raise HTTPException(400, "an audience name is letters, digits, '_' or '-'")
    frame = _audience_frame()
    if frame is None:
        raise HTTPException(404, "no audiences yet: run `make audiences`")
    rows = frame[frame["audience"].astype(str) == name]
    if rows.empty:
        known = sorted(frame["audience"].astype(str).unique())
        raise HTTPException(404, f"no audience {name!r}; audiences: {known}")
    if group:
        rows = rows[rows["group"] == group]
    page = rows.iloc[offset : offset + limit]
    cols = ["customer_id", "group", "reason", "recommended_skus"]
    return {
        "audience": name,
        "as_of": str(pd.Timestamp(rows["as_of"].max()).date()) if len(rows) else None,
        "total": int(len(rows)),
        "offset": offset,
        "limit": limit,
        "customers": page[cols].astype(str).to_dict("records"),
    }


@bentoml.asgi_app(audiences_app, path="/audiences")
@bentoml.service(name="retail-brain-recsys", workers=WORKERS, traffic={"timeout": 30})
class RecommendationService:
    bundle_ref = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        self.bundle = RecsysBundle(self.bundle_ref.path)

    @bentoml.api(route="/recommend")
    def recommend(
        self,
        customer_id: CustomerId,
        k: K = 10,
        channel: Channel = None,
        in_stock_only: Flag = False,
        exclude_skus: ExcludeSkus = [],  # noqa: B006
        location_id: Annotated[str | None, Field(max_length=200)] = None,
    ) -> Recommendations:
        """Top-k items for one customer; unknown customers get the cold-start fallback."""
        return answer(
            Recommendations,
            self.bundle.recommend,
            customer_id,
            k=k,
            channel=channel,
            in_stock_only=in_stock_only,
            exclude_skus=exclude_skus,
            location_id=location_id,
        )

    @bentoml.api(route="/recommend_batch")
    def recommend_batch(
        self,
        customer_ids: Annotated[list[CustomerId], Field(min_length=1, max_length=MAX_BATCH)],
        k: K = 10,
        channel: Channel = None,
        in_stock_only: Flag = False,
        exclude_skus: ExcludeSkus = [],  # noqa: B006
    ) -> Batch:
        """Top-k items for up to 1,000 customers in one call."""
        return answer(
            Batch,
            lambda: {
                "results": self.bundle.recommend_many(
                    customer_ids,
                    k=k,
                    channel=channel,
                    in_stock_only=in_stock_only,
                    exclude_skus=exclude_skus,
                )
            },
        )

    @bentoml.api(route="/similar_items")
    def similar_items(self, sku: Sku, k: K = 10) -> Similar:
        """Items most often bought together with ``sku``."""
        return answer(Similar, self.bundle.similar_items, sku, k)


RecommendationService.add_asgi_middleware(JsonBodies)
RecommendationService.add_asgi_middleware(BearerAuth)
harden(RecommendationService)  # offline docs, client errors at INFO, /metrics labelled by route
