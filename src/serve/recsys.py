"""The recommendation bundle: a champion recommender plus what its rules need, and requests.

A bundle is a folder (imported into the BentoML model store by ``pipelines.build_services``):

* ``recommender/`` — the registered champion's saved model (id mappings included);
* ``products.parquet`` — sku, name, category, is_merchandise (merchandise-only rule, names);
* ``inventory.parquet`` — the latest stock snapshot (``in_stock_only``);
* ``channels.json`` — SKUs sold per channel in the last 90 days (``channel``);
* ``segments.parquet`` — customer -> segment (country) for cold-start popularity;
* ``precomputed.parquet`` — every known customer's top items (merchandise only), scored at build
  time: a request filters this list by its rules and only asks the model again when the rules
  leave fewer than ``k`` items (the champion hybrid takes ~90 ms per live call, a lookup < 1 ms);
* ``bundle.json`` — model name, registry version, run id, build time.

``RecsysBundle.recommend`` etc. validate what a pydantic schema cannot (unknown SKUs, unknown
channel), raise :class:`~src.serve.errors.ClientError` for them, and return plain dicts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from src.features import columns as C
from src.recsys.base import Recommender
from src.recsys.rules import in_stock_skus
from src.serve.errors import ClientError, NotFound

MAX_K = 100
MAX_BATCH = 1000


class RecsysBundle:
    def __init__(self, path: str | Path):
        path = Path(path)
        self.meta = json.loads((path / "bundle.json").read_text())
        self.model = Recommender.load(path / "recommender")
        items = self.model.items_
        products = pd.read_parquet(path / "products.parquet")
        merch = set(products.loc[products[C.IS_MERCHANDISE].astype(bool), C.SKU].astype(str))
        self.merch = np.asarray(items.isin(list(merch)), bool)
        self.model_skus = set(items.astype(str))
        self.known_skus = set(items.astype(str)) | set(products[C.SKU].astype(str))
        inventory = pd.read_parquet(path / "inventory.parquet")
        self.has_inventory = len(inventory) > 0
        self.in_stock = np.asarray(items.isin(list(in_stock_skus(inventory))), bool)
        self.locations = set(inventory[C.LOCATION_ID].astype(str)) if self.has_inventory else set()
        self.in_stock_at = {  # per-location masks, built once: requests only index them
            loc: np.asarray(items.isin(list(in_stock_skus(inventory, loc))), bool)
            for loc in self.locations
        }
        channels = json.loads((path / "channels.json").read_text())
        self.channels = {c: np.asarray(items.isin(s), bool) for c, s in channels.items()}
        pre = pd.read_parquet(path / "precomputed.parquet")
        pre = pre.sort_values([C.CUSTOMER_ID, "rank"], kind="stable")
        pos = items.get_indexer(pre[C.SKU].astype(str))
        reasons = pre["reason"].fillna("").astype(str).to_numpy() if "reason" in pre else None
        bounds = np.flatnonzero(
            np.r_[
                True, pre[C.CUSTOMER_ID].to_numpy()[1:] != pre[C.CUSTOMER_ID].to_numpy()[:-1], True
            ]
        )
        cust = pre[C.CUSTOMER_ID].astype(str).to_numpy()
        score = pre["score"].to_numpy(float)
        self.precomputed = {
            cust[a]: (pos[a:b], score[a:b], None if reasons is None else reasons[a:b])
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        }
        seg = pd.read_parquet(path / "segments.parquet")
        self.segments = dict(
            zip(seg[C.CUSTOMER_ID].astype(str), seg["segment"].astype(str), strict=True)
        )

    @property
    def model_info(self) -> dict:
        return {"name": self.meta["model_name"], "version": str(self.meta["model_version"])}

    def _mask(
        self, channel: str | None, in_stock_only: bool, location_id: str | None
    ) -> np.ndarray:
        mask = self.merch.copy()
        if channel is not None:
            if channel not in self.channels:
                raise ClientError(
                    f"unknown channel {channel!r}; known: {sorted(self.channels)}", status=422
                )
            mask &= self.channels[channel]
        if in_stock_only:
            if not self.has_inventory:
                raise ClientError(
                    "in_stock_only needs an inventory snapshot and this model was packaged "
                    "without one",
                    status=422,
                )
            if location_id is not None:
                if location_id not in self.locations:
                    raise ClientError(f"unknown location_id {location_id!r}", status=422)
                mask &= self.in_stock_at[location_id]
            else:
                mask &= self.in_stock
        return mask

    def check_skus(self, skus: Sequence[str], field: str) -> list[str]:
        skus = [str(s) for s in skus]
        unknown = [s for s in skus if s not in self.known_skus]
        if unknown:
            raise ClientError(f"unknown SKU(s) in {field}: {unknown[:10]}", status=422)
        return skus

    def recommend_many(
        self,
        customer_ids: Sequence[str],
        k: int = 10,
        channel: str | None = None,
        in_stock_only: bool = False,
        exclude_skus: Sequence[str] = (),
        location_id: str | None = None,
    ) -> list[dict]:
        if not 1 <= k <= MAX_K:
            raise ClientError(f"k must be between 1 and {MAX_K}, got {k}", status=422)
        if len(customer_ids) > MAX_BATCH:
            raise ClientError(
                f"at most {MAX_BATCH} customers per batch, got {len(customer_ids)}", status=413
            )
        exclude = self.check_skus(exclude_skus, "exclude_skus")
        mask = self._mask(channel, in_stock_only, location_id)
        if exclude:
            mask &= ~np.asarray(self.model.items_.isin(exclude), bool)
        ids = [str(c) for c in customer_ids]
        out = {c: [] for c in ids}
        live = []
        # each customer once, however often asked for; known customers: filter their
        # precomputed list by today's rules
        for c in dict.fromkeys(ids):
            got = self.precomputed.get(c)
            if got is None:
                live.append(c)
                continue
            pos, score, reason = got
            keep = np.flatnonzero(mask[pos])[:k]
            if len(keep) < k and len(keep) < int(mask.sum()):
                live.append(c)  # the rules ate the list: ask the model
                continue
            out[c] = [
                {
                    "sku": str(self.model.items_[pos[j]]),
                    "rank": r,
                    "score": float(score[j]),
                    **({"reason": reason[j]} if reason is not None and reason[j] else {}),
                }
                for r, j in enumerate(keep, 1)
            ]
        if not live:
            return [{"customer_id": c, "items": out[c], "model": self.model_info} for c in ids]
        recs = self.model.recommend(
            live,
            k,
            allowed=mask,
            cold_segments={c: self.segments[c] for c in live if c in self.segments},
        )
        has_reason = "reason" in recs
        for row in recs.itertuples(index=False):
            if not np.isfinite(row.score):  # a masked item padded in: never recommend it
                continue
            item = {"sku": str(row.sku), "rank": int(row.rank), "score": float(row.score)}
            reason = getattr(row, "reason", None) if has_reason else None
            if isinstance(reason, str) and reason:
                item["reason"] = reason
            out[str(row.customer_id)].append(item)
        return [{"customer_id": c, "items": out[c], "model": self.model_info} for c in ids]

    def recommend(self, customer_id: str, **kw) -> dict:
        return self.recommend_many([customer_id], **kw)[0]

    def similar_items(self, sku: str, k: int = 10) -> dict:
        if not 1 <= k <= MAX_K:
            raise ClientError(f"k must be between 1 and {MAX_K}, got {k}", status=422)
        if str(sku) not in self.model_skus:
            raise NotFound(f"unknown SKU {sku!r}: the model has never seen it")
        sim = self.model.similar_items([str(sku)], k)
        items = [
            {"sku": str(r.similar_sku), "rank": int(r.rank), "score": float(r.score)}
            for r in sim.itertuples(index=False)
            if np.isfinite(r.score)
        ]
        return {"sku": str(sku), "items": items, "model": self.model_info}
