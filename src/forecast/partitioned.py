"""Forecasting a whole catalogue: models fitted per group of series on the configured backend,
and model tiers with a champion per ABC class.

:class:`Partitioned` wraps one configured forecaster. ``fit`` splits the panel into groups of
whole series and maps "fit this group" over the backend (:mod:`src.compute`); ``predict`` maps
"forecast this group". The grouping (``pool``) is the model's choice:

* ``partition`` — the feature store's partitions (a stable hash of ``unique_id`` into
  ``partitions`` groups): right for local models (one fit per series: the grouping only decides
  where they run);
* ``all`` — one group: a global model pooled over every series (one task);
* a static column such as ``category`` — whole categories per group (hashed into at most
  ``partitions`` groups): pooled global models per category group, as the M5 winners did per
  store / category / department.

The groups depend only on the series ids (and statics), never on the backend, so ``local`` and
``dask`` fit the same models on the same data and give identical forecasts.

:class:`Tiered` spends expensive models where the money is: the series are ABC-classed by
revenue over the fit data, expensive candidates run on the ``top`` classes only, cheap
candidates everywhere, and each class gets the candidate with the lowest WRMSSE on a validation
window cut from the end of the fit data (so a backtest of a tiered model never peeks).
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from src.compute import current, describe_ids
from src.features import columns as C
from src.features.classes import abc_classes, series_revenue
from src.features.store import bucket
from src.forecast.base import FREQ_OFFSETS, Forecaster, load_forecaster, write_class
from src.forecast.metrics import evaluate, revenue_weights

log = logging.getLogger(__name__)
CLASS_COLUMN = "abc_class"  # a static column with the ABC class wins over the fit data's own


@dataclass(frozen=True)
class SeriesGroup:
    """What one task receives: its group number, the series it holds and their data."""

    index: int
    ids: tuple[str, ...]
    panel: pd.DataFrame | None = None
    static: pd.DataFrame | None = None
    future: pd.DataFrame | None = None

    def describe(self) -> str:
        return describe_ids(f"group {self.index}", self.ids)


def _fit_group(group: SeriesGroup, make: Callable[[], Forecaster]) -> Forecaster:
    model = make()
    return model.fit(group.panel, group.static if model.uses_static else None)


def _predict_group(item: tuple[Forecaster, SeriesGroup], h: int) -> pd.DataFrame:
    model, group = item
    return model.predict(h, group.future)


def _rows_of(frame: pd.DataFrame | None, group_of_id: pd.Series) -> dict[int, pd.DataFrame]:
    """``frame`` split by the group of each row's series (rows of unknown series dropped)."""
    if frame is None or frame.empty:
        return {}
    codes, uniques = pd.factorize(frame[C.UNIQUE_ID])
    g = group_of_id.reindex(uniques).to_numpy()
    row_group = g[codes]
    return {
        int(k): frame[row_group == k].reset_index(drop=True)
        for k in np.unique(row_group[~pd.isna(row_group)])
    }


def revenue_classes(panel: pd.DataFrame, abc: Mapping[str, float], lookback_days: int = 365):
    """ABC class per series by revenue (units x price, else units) over ``lookback_days``."""
    revenue = series_revenue(panel, lookback_days)
    ids = pd.Index(pd.unique(panel[C.UNIQUE_ID]))
    return abc_classes(revenue.reindex(ids, fill_value=0.0), abc)


class _Composite(Forecaster):
    """A forecaster made of fitted sub-models (``models_``): it overrides ``fit`` and
    ``predict``, and saves every sub-model in its own folder."""

    models_: dict

    def _fit(self, panel, static_df) -> None:  # pragma: no cover - fit is overridden
        raise NotImplementedError

    def save(self, path: str | Path) -> Path:
        return _save_composite(self, path, "models_")

    @classmethod
    def load(cls, path: str | Path):
        return _load_composite(path, "models_")


def _stack(parts: list[pd.DataFrame]) -> pd.DataFrame:
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values([C.UNIQUE_ID, C.DS], kind="stable").reset_index(drop=True)


class Partitioned(_Composite):
    def __init__(
        self,
        inner: Mapping[str, Callable[[], Forecaster]],
        pool: str = "partition",
        partitions: int = 8,
        freq: str = "D",
        quantiles: Sequence[float] | None = None,
    ):
        if len(inner) != 1:
            raise ValueError("Partitioned wraps exactly one model")
        ((_, make),) = inner.items()
        probe = make()
        super().__init__(probe.quantiles if quantiles is None else quantiles, freq)
        if int(partitions) < 1:
            raise ValueError("partitions must be >= 1")
        self.make = make
        self.pool = pool
        self.partitions = int(partitions)
        self.name = probe.name
        self.uses_static = probe.uses_static
        self.uses_future_covariates = probe.uses_future_covariates
        self.models_: dict[int, Forecaster] = {}

    def groups(self, ids: pd.Index, static: pd.DataFrame | None) -> pd.Series:
        """Group number of every series id (index: ids)."""
        ids = pd.Index(ids)
        if self.pool == "all":
            return pd.Series(0, index=ids)
        if self.pool == "partition":
            return pd.Series(bucket(ids.to_series(), self.partitions), index=ids)
        if static is None or self.pool not in static:
            raise ValueError(
                f"{self.name}: pool={self.pool!r} needs the static column {self.pool!r}; "
                "use pool=partition or pool=all"
            )
        key = static.drop_duplicates(C.UNIQUE_ID).set_index(C.UNIQUE_ID)[self.pool].reindex(ids)
        return pd.Series(bucket(key.fillna("").astype(str), self.partitions), index=ids)

    def fit(self, panel: pd.DataFrame, static_df: pd.DataFrame | None = None) -> Partitioned:
        ids = pd.Index(pd.unique(panel[C.UNIQUE_ID]))
        self.group_of_ = self.groups(ids, static_df)
        panels = _rows_of(panel, self.group_of_)
        statics = _rows_of(static_df, self.group_of_) if static_df is not None else {}
        work = [
            SeriesGroup(
                k,
                tuple(self.group_of_.index[self.group_of_.to_numpy() == k]),
                panels[k],
                statics.get(k),
            )
            for k in sorted(panels)
        ]
        fitted = current().map(_fit_group, work, label=f"fit {self.name}", make=self.make)
        self.models_ = {g.index: m for g, m in zip(work, fitted, strict=True)}
        self.ids_ = np.sort(ids.to_numpy(dtype=object))
        self.last_ds_ = pd.Timestamp(panel[C.DS].max())
        return self

    def predict(self, h: int, future_covariates: pd.DataFrame | None = None) -> pd.DataFrame:
        if not self.models_:
            raise RuntimeError(f"{self.name}: call fit() before predict()")
        futures = (
            _rows_of(future_covariates, self.group_of_) if future_covariates is not None else {}
        )
        work = [
            (m, SeriesGroup(k, tuple(m.ids_), future=futures.get(k)))
            for k, m in sorted(self.models_.items())
        ]
        parts = current().map(_predict_group, work, label=f"forecast {self.name}", h=h)
        return _stack(parts)


class Tiered(_Composite):
    """Expensive candidates on the ``top`` ABC classes, cheap ones everywhere, the best per class
    on a validation window at the end of the fit data; the winners are refitted on all of it."""

    name = "tiered"

    def __init__(
        self,
        expensive: Mapping[str, Callable[[], Forecaster]],
        cheap: Mapping[str, Callable[[], Forecaster]],
        top: Sequence[str] = ("A", "B"),
        abc: Mapping[str, float] | None = None,
        lookback_days: int = 365,
        validation: int = 28,
        known_covariates: Sequence[str] = (),
        freq: str = "D",
        quantiles: Sequence[float] | None = None,
    ):
        if not cheap:
            raise ValueError("tiered: name at least one cheap model (it covers every class)")
        self.expensive, self.cheap = dict(expensive), dict(cheap)
        probes = [make() for make in {**self.expensive, **self.cheap}.values()]
        super().__init__(probes[-1].quantiles if quantiles is None else quantiles, freq)
        self.top = tuple(top)
        self.abc = dict(abc or {"A": 0.8, "B": 0.95})
        self.lookback_days = int(lookback_days)
        self.validation = int(validation)
        self.known_covariates = tuple(known_covariates)
        self.uses_static = True  # reads abc_class from the statics when they carry it
        self.uses_future_covariates = any(p.uses_future_covariates for p in probes)
        self.models_: dict[str, Forecaster] = {}
        self.choice_: dict[str, str] = {}

    # --- segments -----------------------------------------------------------------------------
    def classes(self, panel: pd.DataFrame) -> pd.Series:
        return revenue_classes(panel, self.abc, self.lookback_days)

    def candidates(self, cls: str) -> list[str]:
        return [*self.expensive, *self.cheap] if cls in self.top else list(self.cheap)

    def _make(self, name: str) -> Forecaster:
        return {**self.expensive, **self.cheap}[name]()

    @staticmethod
    def _subset(frame: pd.DataFrame | None, ids) -> pd.DataFrame | None:
        if frame is None:
            return None
        return frame[frame[C.UNIQUE_ID].isin(ids)].reset_index(drop=True)

    def _validate(self, panel, static_df, classes: pd.Series) -> dict[str, str]:
        """The candidate with the lowest WRMSSE per class on the last ``validation`` periods."""
        offset = pd.tseries.frequencies.to_offset(FREQ_OFFSETS[self.freq])
        cut = panel[C.DS].max() - offset * self.validation
        train = panel[panel[C.DS] <= cut]
        window = panel[panel[C.DS] > cut]
        if train.empty or window.empty or train[C.DS].nunique() < 2 * self.validation:
            return {c: next(iter(self.cheap)) for c in classes.unique()}
        scores: dict[str, pd.DataFrame] = {}
        for name in [*self.expensive, *self.cheap]:
            ids = classes.index[classes.isin(self.top)] if name in self.expensive else classes.index
            tr = self._subset(train, ids)
            if tr.empty:
                continue
            model = self._make(name)
            model.fit(tr, self._subset(static_df, ids) if model.uses_static else None)
            win = self._subset(window, ids)
            future = (
                win[[C.UNIQUE_ID, C.DS, *[c for c in self.known_covariates if c in win]]]
                if model.uses_future_covariates
                else None
            )
            fc = model.predict(self.validation, future)
            per_series, _ = evaluate(fc, win, tr, quantiles=(), weights=revenue_weights(train))
            scores[name] = per_series.set_index(C.UNIQUE_ID)
        choice = {}
        for cls in sorted(classes.unique()):
            ids = classes.index[classes == cls]
            best, best_score = None, np.inf
            for name in self.candidates(cls):
                if name not in scores:
                    continue
                ps = scores[name].reindex(ids)
                ok = ps["rmsse"].notna()
                w = ps.loc[ok, "weight"]
                score = (
                    float((ps.loc[ok, "rmsse"] * w).sum() / w.sum())
                    if w.sum() > 0
                    else float(ps.loc[ok, "rmsse"].mean())
                    if ok.any()
                    else np.inf
                )
                if score < best_score:
                    best, best_score = name, score
            choice[cls] = best or next(iter(self.cheap))
            log.info(
                "tiered: class %s (%d series) -> %s (val WRMSSE %.4f)",
                cls,
                len(ids),
                choice[cls],
                best_score,
            )
        return choice

    # --- fit / predict --------------------------------------------------------------------
    def fit(self, panel: pd.DataFrame, static_df: pd.DataFrame | None = None) -> Tiered:
        classes = self.classes(panel)
        if static_df is not None and CLASS_COLUMN in static_df:
            # classes decided over the whole brand (a partition's own shares would differ)
            given = static_df.drop_duplicates(C.UNIQUE_ID).set_index(C.UNIQUE_ID)[CLASS_COLUMN]
            classes = given.reindex(classes.index).fillna(classes)
        self.classes_ = classes
        self.choice_ = self._validate(panel, static_df, classes)
        self.models_ = {}
        for name in sorted(set(self.choice_.values())):
            ids = classes.index[classes.map(self.choice_) == name]
            model = self._make(name)
            model.fit(
                self._subset(panel, ids),
                self._subset(static_df, ids) if model.uses_static else None,
            )
            self.models_[name] = model
        self.ids_ = np.sort(classes.index.to_numpy(dtype=object))
        self.last_ds_ = pd.Timestamp(panel[C.DS].max())
        return self

    def predict(self, h: int, future_covariates: pd.DataFrame | None = None) -> pd.DataFrame:
        parts = []
        for model in self.models_.values():
            fut = (
                self._subset(future_covariates, model.ids_)
                if model.uses_future_covariates
                else None
            )
            parts.append(model.predict(h, fut).assign(model=self.name))
        return _stack(parts)


def _save_composite(model: Forecaster, path: str | Path, attr: str) -> Path:
    """Sub-models each in their own folder (their own save), the shell pickled without them."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    subs: dict = getattr(model, attr)
    keys = list(subs)
    for i, key in enumerate(keys):
        subs[key].save(path / f"sub_{i}")
    setattr(model, attr, {})
    try:
        with open(path / "model.pkl", "wb") as fh:
            pickle.dump(model, fh)
    finally:
        setattr(model, attr, subs)
    (path / "subs.json").write_text(json.dumps([str(k) for k in keys]))
    (path / "sub_keys.pkl").write_bytes(pickle.dumps(keys))
    write_class(path, model)
    return path


def _load_composite(path: str | Path, attr: str):
    path = Path(path)
    with open(path / "model.pkl", "rb") as fh:
        obj = pickle.load(fh)
    keys = pickle.loads((path / "sub_keys.pkl").read_bytes())
    setattr(obj, attr, {k: load_forecaster(path / f"sub_{i}") for i, k in enumerate(keys)})
    return obj
