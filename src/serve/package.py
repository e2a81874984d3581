"""Registry champions -> BentoML model store -> Bentos, offline.

``build_services`` resolves the ``champion`` alias of the recommender and of the forecaster to
their version numbers *now*, downloads exactly those versions, assembles the two bundles
(:mod:`src.serve.recsys`, :mod:`src.serve.planner`), imports them into the BentoML model store
with the registry name/version in their labels, and builds one Bento per service from
``serving/bentofile.<service>.yaml`` (``lock_packages: false``: nothing is resolved against a
package index). The Bento's labels carry the same versions, so what runs is always traceable to
a registry version.

``BENTOML_HOME`` must be set before BentoML is imported; callers set it from config.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient

from src import outputs
from src.features import columns as C
from src.features.sets import CatalogSet, channel_skus, customer_set, open_store
from src.features.store import FeatureSet, FeatureStore, combine
from src.features.tables import fingerprint, table_files
from src.inventory.stock import read_inventory
from src.recsys.base import Recommender
from src.recsys.rules import allowed_items
from src.routing.snapshot import has_snapshot
from src.tracking import CHAMPION

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
RECSYS_MODEL = "retail-brain-recsys"
PLANNER_MODEL = "retail-brain-planner"
SERVICES = {"recsys": RECSYS_MODEL, "planner": PLANNER_MODEL}
ENV_TAG = {"recsys": "RETAIL_BRAIN_RECSYS_MODEL", "planner": "RETAIL_BRAIN_PLANNER_MODEL"}


class ChampionMissing(LookupError):
    pass


def champion(client: MlflowClient, name: str):
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except mlflow.exceptions.MlflowException as err:
        raise ChampionMissing(
            f"registered model {name!r} has no @{CHAMPION} version in {client.tracking_uri}; "
            f"run `make run` (or the training pipeline) first"
        ) from err


# what each bundle reads from its champion's MLflow model folder
REQUIRED_ARTIFACT = {"recsys": "artifacts/recommender", "planner": "artifacts/forecast.parquet"}


def _download(name: str, version, dst: Path, required: str) -> Path:
    """The champion's model folder, or :class:`ChampionMissing` naming the registered model, the
    version, where its artifacts should be and what is missing (never a temp-folder errno)."""
    try:  # the storage location itself (a file path or bucket URI), not an alias of it
        from mlflow.store.artifact.runs_artifact_repo import RunsArtifactRepository

        where = MlflowClient().get_model_version_download_uri(name, version.version)
        if where.startswith("runs:/"):
            where = RunsArtifactRepository.get_underlying_uri(where)
    except mlflow.exceptions.MlflowException:
        where = getattr(version, "source", None) or f"models:/{name}/{version.version}"
    try:
        path = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{name}/{version.version}", dst_path=str(dst)
            )
        )
    except (mlflow.exceptions.MlflowException, OSError) as err:
        raise ChampionMissing(
            f"registered model {name!r} version {version.version} (@{CHAMPION}): its artifacts "
            f"cannot be read from {where} ({type(err).__name__}: {err}); re-run the training "
            f"pipeline or point @{CHAMPION} at a version whose artifacts exist"
        ) from err
    if not (path / required).exists():
        raise ChampionMissing(
            f"registered model {name!r} version {version.version} (@{CHAMPION}): artifact "
            f"{required!r} is missing from {where}; re-run the training pipeline or point "
            f"@{CHAMPION} at a version whose artifacts exist"
        )
    return path


@dataclass(frozen=True)
class RecsysSources:
    """What the recommendation bundle is built from besides the model: the catalog and
    customers feature sets (names, merchandise flag, per-channel sales, segments) and the
    canonical stock table (``in_stock_only``)."""

    catalog: FeatureSet
    customers: FeatureSet
    tables_dir: Path

    @classmethod
    def from_store(cls, store: FeatureStore, features: Mapping, tables_dir) -> RecsysSources:
        return cls(store.get(CatalogSet()), store.get(customer_set(features)), Path(tables_dir))

    @property
    def fingerprint(self) -> str:
        return combine(
            self.catalog.fingerprint,
            self.customers.fingerprint,
            fingerprint(table_files(self.tables_dir, "inventory") or []),
        )


def recsys_bundle(
    dst: Path, model_dir: Path, src: RecsysSources, channel_days: int, precompute_k: int
) -> dict:
    """Assemble the recommendation bundle folder ``dst``."""
    shutil.copytree(model_dir / "artifacts" / "recommender", dst / "recommender")
    items = src.catalog.read("items")
    items[[C.SKU, C.NAME, C.CATEGORY, C.IS_MERCHANDISE]].to_parquet(
        dst / "products.parquet", index=False
    )
    inv = read_inventory(src.tables_dir)
    if len(inv):
        inv = inv[inv[C.AS_OF] == inv[C.AS_OF].max()]
    inv.to_parquet(dst / "inventory.parquet", index=False)
    channel_items = src.catalog.read("channel_items")
    channels = sorted(channel_items[C.CHANNEL].dropna().astype(str).unique())
    chan = {c: sorted(channel_skus(channel_items, c, channel_days)) for c in channels}
    (dst / "channels.json").write_text(json.dumps(chan))
    profile = src.customers.read("profile")
    seg = profile[[C.CUSTOMER_ID, C.COUNTRY]].rename(columns={C.COUNTRY: "segment"})
    seg.dropna().astype(str).to_parquet(dst / "segments.parquet", index=False)
    model = Recommender.load(dst / "recommender")
    t = time.perf_counter()
    allowed = allowed_items(model.items_, items)
    pre = model.recommend(list(model.customers_), precompute_k, allowed=allowed)
    pre.to_parquet(dst / "precomputed.parquet", index=False)
    log.info(
        "precomputed top-%d for %d customers in %.1f s",
        precompute_k,
        len(model.customers_),
        time.perf_counter() - t,
    )
    return {"inventory_rows": len(inv), "channels": channels, "precomputed_k": precompute_k}


def planner_bundle(dst: Path, model_dir: Path, paths: Mapping, level: str, network: str) -> dict:
    """Assemble the planner bundle folder ``dst`` (with the routing snapshot of
    ``pipelines.route_orders`` under ``routing/`` when there is one: ``POST /route``)."""
    s = outputs.read(paths, "suggestions")
    shutil.copy(outputs.path(paths, "suggestions"), dst / outputs.file_name("suggestions"))
    shutil.copy(model_dir / "artifacts" / "forecast.parquet", dst / "forecast.parquet")
    as_of = str(pd.Timestamp(s["as_of"].iloc[0]).date()) if len(s) and "as_of" in s else None
    snapshot = outputs.path(paths, "routing_snapshot")
    routing = has_snapshot(snapshot)
    if routing:
        shutil.copytree(snapshot, dst / "routing")
    return {"plan_as_of": as_of, "level": level, "network_location": network, "plan_rows": len(s),
            "routing": routing}  # fmt: skip


def sources(
    tracking_uri: str,
    recsys: RecsysSources,
    paths: Mapping,
    recsys_name: str,
    forecast_name: str,
) -> dict[str, dict[str, str]]:
    """What each Bento must be built from *now*: champion version and input fingerprint.

    Recommendations depend on the recsys champion, the catalog and customers features and the
    stock table; the planner on the forecast champion and the reorder plan.
    """
    client = MlflowClient(tracking_uri)
    plan = outputs.path(paths, "suggestions")
    snap = outputs.path(paths, "routing_snapshot")
    planner_inputs = [plan] + (sorted(p for p in snap.iterdir() if p.is_file())
                               if snap.is_dir() else [])  # fmt: skip
    return {
        "recsys": {
            "mlflow_version": str(champion(client, recsys_name).version),
            "source_fingerprint": recsys.fingerprint[:16],
        },
        "planner": {
            "mlflow_version": str(champion(client, forecast_name).version),
            "source_fingerprint": fingerprint(planner_inputs)[:16] if plan.exists() else "",
        },
    }


def stale(wanted: Mapping[str, str], labels: Mapping[str, str] | None) -> str | None:
    """Why a Bento with ``labels`` no longer serves ``wanted`` (None when it still does)."""
    if labels is None:
        return "not built yet"
    for key, value in wanted.items():
        if labels.get(key) != value:
            return f"{key} is {value!r} now, the Bento has {labels.get(key)!r}"
    return None


@contextmanager
def _env(name: str, value: str):
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def build_services(
    tracking_uri: str,
    recsys: RecsysSources,
    paths: Mapping,
    recsys_name: str,
    forecast_name: str,
    level: str,
    network_location: str = "ALL",
    channel_days: int = 90,
    precompute_k: int = 100,
) -> dict:
    """Import both champions into the BentoML store and build both Bentos; returns their tags."""
    import bentoml  # after BENTOML_HOME is set by the caller

    t0 = time.perf_counter()
    client = MlflowClient(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    rec_v, fc_v = champion(client, recsys_name), champion(client, forecast_name)
    now = sources(tracking_uri, recsys, paths, recsys_name, forecast_name)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        plans = {
            "recsys": (
                recsys_name,
                rec_v,
                lambda d, m: recsys_bundle(d, m, recsys, channel_days, precompute_k),
            ),
            "planner": (
                forecast_name,
                fc_v,
                lambda d, m: planner_bundle(d, m, paths, level, network_location),
            ),
        }
        for service, (reg_name, version, assemble) in plans.items():
            model_dir = _download(
                reg_name, version, tmp / service / "mlflow", REQUIRED_ARTIFACT[service]
            )
            labels = {
                "mlflow_model": reg_name,
                "mlflow_version": str(version.version),
                "mlflow_run_id": version.run_id,
                "source_fingerprint": now[service]["source_fingerprint"],
            }
            with bentoml.models.create(SERVICES[service], labels=labels) as bm:
                bundle = Path(bm.path)
                extra = assemble(bundle, model_dir)
                meta = {
                    "model_name": reg_name,
                    "model_version": str(version.version),
                    "run_id": version.run_id,
                    "built_at": pd.Timestamp.now("UTC").isoformat(),
                    **extra,
                }
                (bundle / "bundle.json").write_text(json.dumps(meta, indent=2, default=str))
            log.info(
                "imported %s version %s as BentoML model %s", reg_name, version.version, bm.tag
            )
            with _env(ENV_TAG[service], str(bm.tag)):
                bento = bentoml.bentos.build_bentofile(
                    str(REPO / "serving" / f"bentofile.{service}.yaml"),
                    build_ctx=str(REPO),
                    labels={**labels, "bentoml_model": str(bm.tag)},
                )
            log.info("built Bento %s (model %s)", bento.tag, bm.tag)
            out[service] = {"bento": str(bento.tag), "model": str(bm.tag), **labels}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def summary(result: Mapping) -> str:
    lines = ["", "=== services built ==="]
    for service in ("recsys", "planner"):
        r = result[service]
        lines.append(
            f"  {service:8} Bento {r['bento']}  <- {r['mlflow_model']} v{r['mlflow_version']} "
            f"(BentoML model {r['model']})"
        )
    lines.append(f"  in {result['seconds']} s; serve both with `make serve`")
    return "\n".join(lines)


def recsys_sources(config: Mapping) -> RecsysSources:
    """The feature sets and stock table the recommendation bundle is built from."""
    features, paths = config["features"], config["paths"]
    store = open_store(features, paths["features"], paths["tables"])
    return RecsysSources.from_store(store, features, paths["tables"])


def run_build_services(config: Mapping) -> dict:
    """`make build-services`: both champions imported into the BentoML store and both Bentos
    built, offline (``serving.bentoml_home``)."""
    os.environ["BENTOML_HOME"] = str(Path(config["serving"]["bentoml_home"]).resolve())
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")  # offline: no usage analytics
    result = build_services(
        tracking_uri=config["tracking"]["uri"],
        recsys=recsys_sources(config),
        paths=config["paths"],
        recsys_name=config["tasks"]["recsys"]["registered_model"],
        forecast_name=config["tasks"]["forecast"]["registered_model"],
        level=config["granularity"]["level"],
        network_location=config["policy"]["network_location"],
        channel_days=int(config["serving"]["channel_days"]),
        precompute_k=int(config["serving"]["precompute_k"]),
    )
    print(summary(result), flush=True)
    return result
