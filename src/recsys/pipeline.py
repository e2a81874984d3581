"""The recommendation step without Hydra: feature store -> tracked models -> champion -> recs.

``recsys_task`` reads the interactions, customers and catalog feature sets and sets up the
temporal holdout; ``train_recommenders`` runs every configured model through the skeleton
(:mod:`src.tracking.experiment`), promotes by the task's rule and writes the champion's
recommendations for every known customer to ``<output>/recommendations.parquet`` (scored per
customer partition on the configured backend).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import mlflow
import numpy as np
import pandas as pd

from src import outputs
from src.compute import current, describe_ids
from src.features import columns as C
from src.features.lifecycle import lifecycle_stages
from src.features.sets import CatalogSet, customer_set, interaction_set, open_store
from src.features.store import FeatureStore, bucket, combine
from src.recsys.base import RANK
from src.recsys.evaluation import holdout
from src.recsys.rules import allowed_items
from src.recsys.task import RecsysTask, cutoff_of
from src.tracking import CHAMPION, configure
from src.tracking.candidates import factories, with_params
from src.tracking.experiment import train_register_promote
from src.tracking.leaderboard import format_leaderboard
from src.tracking.tasks import TaskSpec

log = logging.getLogger(__name__)


def segments_of(profile: pd.DataFrame) -> dict[str, str]:
    """customer_id -> segment (country) for the cold-start fallback."""
    p = profile[[C.CUSTOMER_ID, C.COUNTRY]].dropna()
    return dict(zip(p[C.CUSTOMER_ID].astype(str), p[C.COUNTRY].astype(str), strict=True))


def recsys_task(
    store: FeatureStore, features: Mapping, recsys_cfg: Mapping, spec: TaskSpec
) -> RecsysTask:
    inter = store.get(interaction_set(features))
    cust_spec = customer_set(features)
    customers = store.get(cust_spec)
    catalog = store.get(CatalogSet())
    events = inter.read("interactions")
    if events.empty:
        raise ValueError(
            f"feature set {inter.name} ({inter.path}): no merchandise purchases with a customer "
            "id to learn from"
        )
    cutoff = cutoff_of(events, recsys_cfg.get("cutoff"), int(recsys_cfg["test_days"]))
    h = holdout(events, cutoff)
    return RecsysTask(
        spec=spec,
        events=events,
        holdout=h,
        items=catalog.read("items"),
        segments=segments_of(customers.read("profile")),
        lifecycle=lifecycle_stages(events, cutoff, **cust_spec.thresholds()),
        ks=tuple(recsys_cfg["ks"]),
        data_fingerprint=combine(inter.fingerprint, customers.fingerprint, catalog.fingerprint),
    )


def model_factories(recsys_cfg: Mapping, names) -> dict:
    return factories(names, recsys_cfg["models"], refs=("candidates",))


@dataclass(frozen=True)
class CustomerSlice:
    """One batch-scoring task: the customers of one partition (stable hash of customer_id)."""

    index: int
    ids: tuple[str, ...]

    def describe(self) -> str:
        return describe_ids(f"customer partition {self.index}", self.ids, "customers")


def _recommend_slice(part: CustomerSlice, model, k: int, allowed) -> pd.DataFrame:
    return model.recommend(list(part.ids), k, allowed=allowed)


def recommend_all(model, customers, k: int, allowed, partitions: int) -> pd.DataFrame:
    """Top-``k`` for every customer, scored per customer partition on the current backend
    (:mod:`src.compute`), in the order of ``customers`` whatever the backend."""
    ids = pd.Index([str(c) for c in customers])
    part = bucket(ids.to_series(), max(int(partitions), 1))
    slices = [CustomerSlice(int(p), tuple(ids[part == p])) for p in np.unique(part)]
    out = current().map(
        _recommend_slice, slices, label="recommend", model=model, k=k, allowed=allowed
    )
    recs = pd.concat(out, ignore_index=True)
    order = pd.Series(np.arange(len(ids)), index=ids)
    recs["_o"] = recs[C.CUSTOMER_ID].map(order)
    return recs.sort_values(["_o", RANK], kind="stable").drop(columns="_o").reset_index(drop=True)


def train_recommenders(
    task: RecsysTask,
    recsys_cfg: Mapping,
    tracking_cfg: Mapping,
    config: Mapping,
) -> dict:
    spec, h = task.spec, task.holdout
    configure(tracking_cfg["uri"], spec.experiment, tracking_cfg["artifact_root"])
    models = model_factories(recsys_cfg, recsys_cfg["train"])
    log.info(
        "recsys: %d events, cutoff %s, %d test customers (%d new-item, %d cold start)",
        len(task.events),
        h.cutoff.date(),
        h.truth_all[C.CUSTOMER_ID].nunique(),
        h.truth_new[C.CUSTOMER_ID].nunique(),
        h.truth_cold[C.CUSTOMER_ID].nunique(),
    )
    board, decision = train_register_promote(task, models, config)
    champion = mlflow.pyfunc.load_model(f"models:/{spec.registered_model}@{CHAMPION}")
    inner = champion.unwrap_python_model().model
    allowed = allowed_items(inner.items_, task.items)
    recs = recommend_all(
        inner,
        list(inner.customers_),
        int(recsys_cfg["k"]),
        allowed,
        recsys_cfg.get("partitions", 1),
    )
    lineage = {"run_id": champion.metadata.run_id, "features": task.data_fingerprint,
               "model_version": decision["champion_version"]}  # fmt: skip
    path = outputs.write(config["paths"], "recommendations", recs, lineage)
    print(
        format_leaderboard(board, f"recommender leaderboard (by {spec.metric})")
        + f"\n\nchampion: version {decision['champion_version']} ({decision['reason']})"
        + f"\nrecommendations for {recs[C.CUSTOMER_ID].nunique():,} customers written to {path}",
        flush=True,
    )
    return {"leaderboard": board, "decision": decision, "recommendations_path": str(path)}


def run_train_recsys(config: Mapping) -> dict:
    """`make train-recsys`: the configured recommenders evaluated on the temporal holdout,
    tracked, registered and promoted; the champion's recommendations written."""
    store = open_store(config["features"], config["paths"]["features"], config["paths"]["tables"])
    task = recsys_task(store, config["features"], config["recsys"],
                       TaskSpec.from_config(config["tasks"]["recsys"]))  # fmt: skip
    return train_recommenders(task, config["recsys"], config["tracking"], config)


def tuning_target(config: Mapping, store: FeatureStore, spec: TaskSpec, model: str):
    """What a study of ``model`` tunes: the recsys task and ``params -> model factory``."""
    rcfg = config["recsys"]
    task = recsys_task(store, config["features"], rcfg, spec)

    def make_with(params):
        entries = {**rcfg, "models": with_params(rcfg["models"], model, params)}
        return model_factories(entries, [model])[model]

    return task, make_with
