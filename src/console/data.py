"""What the console shows, read from the files and stores the pipelines write.

Each source is re-read only when its file changed (modification time), so a page render touches
memory only; the KPI table is split by (kpi, grain, dimension) once per load so a tile is a
dictionary lookup, not a scan of 750,000 rows.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

from src.features import columns as C
from src.features.sets import customer_set, open_store
from src.features.store import FeatureSetMissing
from src.features.tables import read_table
from src.monitor import kpis as K
from src.monitor.pipeline import read_kpis
from src.monitor.store import AlertStore

log = logging.getLogger(__name__)


def _mtime(path: Path) -> float:
    try:
        if path.is_dir():
            return max((p.stat().st_mtime for p in path.rglob("*")), default=path.stat().st_mtime)
        return path.stat().st_mtime
    except FileNotFoundError:
        return -1.0


class _Cached:
    def __init__(self, path: Path, load: Callable[[], object]):
        self.path, self.load = path, load
        self.stamp, self.value = None, None
        self.lock = threading.Lock()

    def get(self):
        stamp = _mtime(self.path)
        with self.lock:
            if stamp != self.stamp:
                self.value = self.load() if stamp >= 0 else None
                self.stamp = stamp
            return self.value


class ConsoleData:
    def __init__(self, config: Mapping):
        self.config = config
        paths = config["paths"]
        self.paths = paths
        self.monitor_dir = Path(paths["monitor"])
        self.tables = Path(paths["tables"])
        registered = config["granularity"]["registered_model"]
        self.store = AlertStore(config["monitor"]["store_url"])
        self._kpis = _Cached(self.monitor_dir / "kpis", self._load_kpis)
        plans = Path(paths["plans"])
        self._suggestions = _Cached(plans / "suggestions.parquet", self._load_suggestions)
        self._transfers = _Cached(
            plans / "transfers.parquet", lambda: pd.read_parquet(plans / "transfers.parquet")
        )
        fc = Path(paths["forecasts"]) / f"{registered}.parquet"
        self._forecast = _Cached(fc, lambda: self._load_forecast(fc))
        self._history = _Cached(self.tables / "transactions.parquet", self._load_history)
        self._customers = _Cached(Path(paths["features"]) / "customers", self._load_customers)
        aud = Path(paths["marketing"]) / "audiences" / "audiences.parquet"
        self.audience_dir = aud.parent
        self._audiences = _Cached(aud, lambda: pd.read_parquet(aud))
        clv = Path(paths["marketing"]) / "clv.parquet"
        self._clv = _Cached(clv, lambda: pd.read_parquet(clv).astype({C.CUSTOMER_ID: str}))
        camp = Path(paths["marketing"]) / "campaigns"
        self._campaigns = _Cached(camp / "results.parquet",
                                  lambda: pd.read_parquet(camp / "results.parquet"))  # fmt: skip
        self._qini = _Cached(camp / "qini_curves.parquet",
                             lambda: pd.read_parquet(camp / "qini_curves.parquet"))  # fmt: skip
        self._power = _Cached(
            camp / "power.parquet", lambda: pd.read_parquet(camp / "power.parquet")
        )
        routing = Path(paths["routing"])
        self._routing = _Cached(routing / "summary.json", lambda: (
            json.loads((routing / "summary.json").read_text()),
            pd.read_parquet(routing / "assignments.parquet")))  # fmt: skip
        recs = Path(paths["recommendations"]) / "recommendations.parquet"
        self._recs = _Cached(recs, lambda: pd.read_parquet(recs))
        self._products = _Cached(
            self.tables / "products.parquet", lambda: read_table(self.tables, "products")
        )

    def warm(self) -> None:
        """Load every source now (at start-up) so the first page view is not the slow one."""
        for source in (self._kpis, self._suggestions, self._transfers, self._forecast,
                       self._history, self._customers, self._clv, self._recs,
                       self._products):  # fmt: skip
            try:
                source.get()
            except Exception as err:  # a missing or broken source shows as such on its page
                log.warning("console: %s not loaded (%s)", source.path, err)

    # --- loaders ------------------------------------------------------------------------------
    def _load_kpis(self):
        frame = read_kpis(self.monitor_dir)
        for c in (K.KPI_COL, K.DIMENSION, K.MEMBER):
            frame[c] = frame[c].astype(str)
        groups = {
            key: g[[K.MEMBER, K.PERIOD, K.VALUE]].sort_values(K.PERIOD).reset_index(drop=True)
            for key, g in frame.groupby([K.KPI_COL, K.GRAIN, K.DIMENSION], observed=True)
        }
        members = {
            (kpi, grain, dim): sorted(g[K.MEMBER].unique().tolist())
            for (kpi, grain, dim), g in groups.items()
        }
        days = frame.loc[frame[K.GRAIN] == "day", K.PERIOD]
        last_day = days.max() if len(days) else frame[K.PERIOD].max()
        # a week still running (the data ends mid-week) is left out of tiles and charts: it would
        # read as a drop against the full week before it
        for key, g in groups.items():
            if key[1] == "week":
                groups[key] = g[g[K.PERIOD] + pd.Timedelta(days=6) <= last_day].reset_index(
                    drop=True
                )
        return {
            "groups": groups,
            "members": members,
            "periods": frame[K.PERIOD],
            "last_day": last_day,
        }

    def _load_suggestions(self):
        s = pd.read_parquet(Path(self.paths["plans"]) / "suggestions.parquet")
        products = self.products()
        if products is not None:
            s[C.CATEGORY] = s[C.SKU].map(products.set_index(C.SKU)[C.CATEGORY]).astype("string")
        return s

    def _load_history(self, days: int = 182):
        tx = read_table(
            self.tables, "transactions", [C.TS, C.SKU, C.LOCATION_ID, C.QTY, C.LINE_TYPE]
        )
        tx = tx[tx[C.LINE_TYPE].isin([C.LINE_SALE, C.LINE_RETURN])]
        day = tx[C.TS].dt.normalize()
        tx = tx[day > day.max() - pd.Timedelta(days=days)].assign(ds=day)
        by_sku = tx.groupby([C.SKU, "ds"], observed=True)[C.QTY].sum().rename(C.Y).reset_index()
        by_sku[C.UNIQUE_ID] = by_sku[C.SKU].astype(str)
        tx["uid"] = tx[C.SKU].astype(str) + "|" + tx[C.LOCATION_ID].astype(str)
        by_loc = tx.groupby(["uid", "ds"], observed=True)[C.QTY].sum().rename(C.Y).reset_index()
        by_loc = by_loc.rename(columns={"uid": C.UNIQUE_ID})
        both = pd.concat([by_sku[[C.UNIQUE_ID, "ds", C.Y]], by_loc], ignore_index=True)
        return {uid: g[["ds", C.Y]] for uid, g in both.groupby(C.UNIQUE_ID, observed=True)}

    @staticmethod
    def _load_forecast(path: Path) -> dict[str, pd.DataFrame]:
        """SKU -> its forecast summed over locations (the fan chart's rows), indexed once."""
        fc = pd.read_parquet(path)
        fc["sku_"] = fc[C.UNIQUE_ID].astype(str).str.split("|").str[0]
        cols = [c for c in fc.columns if c.startswith("q") or c == "y_hat"]
        return {sku: g.groupby(C.DS)[cols].sum() for sku, g in fc.groupby("sku_")}

    def _load_customers(self):
        """The customers feature set once per version: RFM, AIPL stages and their flows."""
        try:
            store = open_store(
                self.config["features"], self.paths["features"], self.paths["tables"]
            )
            fs = store.get(customer_set(self.config["features"]))
            rfm = fs.read("rfm")
            aipl = (
                {"stages": fs.read("aipl"), "flows": fs.read("aipl_flows")}
                if "aipl" in fs.tables
                else None
            )
        except (FeatureSetMissing, FileNotFoundError, KeyError) as err:
            log.warning("no customer features: %s", err)
            return None
        rfm[C.CUSTOMER_ID] = rfm[C.CUSTOMER_ID].astype(str)
        return {"rfm": rfm, "aipl": aipl}

    # --- accessors ----------------------------------------------------------------------------
    def kpis(self):
        return self._kpis.get()

    def kpi(self, kpi: str, grain: str, dimension: str, member: str) -> pd.Series:
        k = self.kpis()
        if k is None:
            return pd.Series(dtype=float)
        g = k["groups"].get((kpi, grain, dimension))
        if g is None:
            return pd.Series(dtype=float)
        sel = g[g[K.MEMBER] == member]
        return sel.set_index(K.PERIOD)[K.VALUE]

    def members(self, kpi: str, grain: str, dimension: str) -> list[str]:
        k = self.kpis()
        return [] if k is None else k["members"].get((kpi, grain, dimension), [])

    def frame(self, kpi: str, grain: str, dimension: str) -> pd.DataFrame:
        k = self.kpis()
        empty = pd.DataFrame(columns=[K.MEMBER, K.PERIOD, K.VALUE])
        return empty if k is None else k["groups"].get((kpi, grain, dimension), empty)

    def suggestions(self):
        return self._suggestions.get()

    def transfers(self):
        return self._transfers.get()

    def forecast(self, sku: str) -> pd.DataFrame | None:
        f = self._forecast.get()
        return None if f is None else f.get(sku)

    def history(self, uid: str) -> pd.DataFrame | None:
        h = self._history.get()
        return None if h is None else h.get(uid)

    def customers(self):
        got = self._customers.get()
        return None if got is None else got["rfm"]

    def aipl(self):
        got = self._customers.get()
        return None if got is None else got["aipl"]

    def clv(self):
        return self._clv.get()

    def audiences(self):
        return self._audiences.get()

    def routing(self):
        return self._routing.get()

    def campaigns(self):
        return self._campaigns.get()

    def qini_curves(self):
        return self._qini.get()

    def power(self):
        return self._power.get()

    def recommendations(self):
        return self._recs.get()

    def products(self):
        return self._products.get()

    def alerts(self, limit: int = 500) -> list[dict]:
        return self.store.alerts(limit=limit)

    def models(self) -> list[dict]:
        """Champion and challenger of every registered model, with key metrics."""
        import mlflow

        mlflow.set_tracking_uri(self.config["tracking"]["uri"])
        client = mlflow.MlflowClient()
        rows = []
        for m in client.search_registered_models():
            for alias, version in sorted((m.aliases or {}).items()):
                v = client.get_model_version(m.name, version)
                run = client.get_run(v.run_id)
                met = run.data.metrics
                rows.append(
                    {
                        "registered_model": m.name,
                        "alias": alias,
                        "version": int(version),
                        "model": v.tags.get("model") or run.data.tags.get("model", ""),
                        **{k: met.get(k) for k in KEY_METRICS if k in met},
                        "run_id": v.run_id,
                        "experiment_id": run.info.experiment_id,
                    }
                )
        return rows


KEY_METRICS = (
    "val/wrmsse",
    "val/wspl",
    "val/coverage_95",
    "val/bias",
    "val/all/recall_at_20",
    "val/all/ndcg_at_20",
    "val/new/recall_at_20",
)
