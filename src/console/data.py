"""What the console shows, read from the files and stores the pipelines write.

Each source is re-read only when its file changed (modification time), so a page render touches
memory only; the KPI table is split by (kpi, grain, dimension) once per load so a tile is a
dictionary lookup, not a scan of 750,000 rows.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

from src import outputs
from src.features import columns as C
from src.features.sets import customer_set, open_store
from src.features.store import FeatureSetMissing
from src.features.tables import read_table
from src.monitor import kpis as K
from src.monitor.store import AlertStore
from src.outputs.files import TABLESET
from src.outputs.ids import first_key, series_id
from src.tracking.tasks import task_specs

log = logging.getLogger(__name__)
LEADERBOARD_SHOWN = 4  # metrics per task on the Models page


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
        self.tables = Path(paths["tables"])
        registered = config["granularity"]["registered_model"]
        self.store = AlertStore(config["monitor"]["store_url"])
        self._kpis = self._output("kpis", self._load_kpis)
        self._suggestions = self._output("suggestions", self._load_suggestions)
        self._transfers = self._output("transfers")
        self._forecast = self._output("forecast", self._load_forecast, registered=registered)
        # canonical tables: re-read when a write of the table set lands (its manifest)
        self._history = _Cached(self.tables / TABLESET, self._load_history)
        self._customers = _Cached(Path(paths["features"]) / "customers", self._load_customers)
        self._audiences = self._output("audiences")
        self._clv = self._output("clv", lambda f: f.astype({C.CUSTOMER_ID: str}))
        self._campaigns = self._output("campaign_results")
        self._qini = self._output("qini_curves")
        self._power = self._output("campaign_power")
        self._routing = _Cached(outputs.path(paths, "routing_summary"), lambda: (
            outputs.read_json(paths, "routing_summary"),
            outputs.read(paths, "routing_assignments")))  # fmt: skip
        self._recs = self._output("recommendations")
        self._products = _Cached(
            self.tables / TABLESET, lambda: read_table(self.tables, "products")
        )

    def _output(self, name: str, then: Callable | None = None, **params) -> _Cached:
        """A stage output by name (src/outputs), re-read when its file changes."""

        def load():
            frame = outputs.read(self.paths, name, **params)
            return frame if then is None else then(frame)

        return _Cached(outputs.path(self.paths, name, **params), load)

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
    def _load_kpis(self, frame: pd.DataFrame):
        frame = frame[K.KPI_COLUMNS].astype({K.GRAIN: "string"})
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

    def _load_suggestions(self, s: pd.DataFrame):
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
        tx["uid"] = series_id(tx, [C.SKU, C.LOCATION_ID])  # as sku_location panels name them
        by_loc = tx.groupby(["uid", "ds"], observed=True)[C.QTY].sum().rename(C.Y).reset_index()
        by_loc = by_loc.rename(columns={"uid": C.UNIQUE_ID})
        both = pd.concat([by_sku[[C.UNIQUE_ID, "ds", C.Y]], by_loc], ignore_index=True)
        return {uid: g[["ds", C.Y]] for uid, g in both.groupby(C.UNIQUE_ID, observed=True)}

    @staticmethod
    def _load_forecast(fc: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """SKU -> its forecast summed over locations (the fan chart's rows), indexed once."""
        fc["sku_"] = first_key(fc[C.UNIQUE_ID]).astype(str)
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

    @property
    def key_metrics(self) -> list[str]:
        """The first ``LEADERBOARD_SHOWN`` leaderboard metrics of every task with a registered
        model (``conf/tasks``): the Models page shows what the leaderboards rank by."""
        out = []
        for spec in task_specs(self.config.get("tasks", {})).values():
            if spec.registered_model is not None:
                out += [m for m in spec.leaderboard[:LEADERBOARD_SHOWN] if m not in out]
        return out

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
                        **{k: met.get(k) for k in self.key_metrics if k in met},
                        "run_id": v.run_id,
                        "experiment_id": run.info.experiment_id,
                    }
                )
        return rows
