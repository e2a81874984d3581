"""An ensemble of chosen forecasters: weighted average of point forecasts and of quantiles.

Averaging quantiles level by level (Vincentization) keeps them ordered and is the usual way to
combine probabilistic forecasts of different models.

The weights are given, or chosen on the data at fit time (``selection="greedy"``): every candidate
is fitted without the last ``validation`` periods and forecasts them, and greedy forward selection
with replacement (Caruana et al., "Ensemble selection from libraries of models", ICML 2004 — what
AutoGluon's weighted ensemble does) adds, ``rounds`` times, the candidate whose addition gives the
lowest WRMSSE of the bag's average; a member's weight is how often it was added. Members that were
never added are not refitted. So each data set gets its own membership, chosen on a window before
anything the ensemble is scored on.
"""

from __future__ import annotations

import copy
import json
import logging
import pickle
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from src.features import columns as C
from src.forecast.base import MODEL_COL, Forecaster, load_forecaster, write_class
from src.forecast.metrics import Y_HAT, evaluate, quantile_column

log = logging.getLogger(__name__)
SELECTIONS = (None, "greedy")


class Ensemble(Forecaster):
    name = "ensemble"

    def __init__(
        self,
        members: Sequence[Forecaster] | Mapping[str, Callable[[], Forecaster]],
        weights: Sequence[float] | None = None,
        freq: str = "D",
        quantiles: Sequence[float] | None = None,
        selection: str | None = None,
        validation: int = 28,
        rounds: int = 10,
    ):
        """``members``: fitted-or-not forecasters, or ``{name: factory}`` as the config builds
        them; ``quantiles``, when given, must be what every member predicts. ``selection``:
        ``None`` (``weights``, default equal) or ``"greedy"`` (chosen at fit time on the last
        ``validation`` periods, ``rounds`` additions; see the module docstring)."""
        if selection not in SELECTIONS:
            raise ValueError(f"ensemble selection {selection!r}: choose from {list(SELECTIONS)}")
        if selection is not None and weights is not None:
            raise ValueError("ensemble: give weights or a selection, not both")
        if selection is not None and (int(validation) < 1 or int(rounds) < 1):
            raise ValueError("ensemble selection needs validation >= 1 periods and rounds >= 1")
        self.selection, self.validation, self.rounds = selection, int(validation), int(rounds)
        names = list(members) if isinstance(members, Mapping) else None
        if isinstance(members, Mapping):
            members = [make() for make in members.values()]
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.names = names or [getattr(m, "name", type(m).__name__) for m in members]
        quantiles = tuple(quantiles) if quantiles is not None else members[0].quantiles
        if any(tuple(m.quantiles) != quantiles for m in members):
            raise ValueError("ensemble members must predict the same quantiles")
        super().__init__(quantiles, freq)
        self.members = list(members)
        w = np.ones(len(members)) if weights is None else np.asarray(weights, float)
        if len(w) != len(members) or (w < 0).any() or w.sum() <= 0:
            raise ValueError("ensemble weights: one non-negative weight per member, not all zero")
        self.weights = w / w.sum()
        self.uses_future_covariates = any(m.uses_future_covariates for m in members)
        self.uses_static = any(m.uses_static for m in members)

    def _fit(self, panel: pd.DataFrame, static_df: pd.DataFrame | None) -> None:
        if self.selection == "greedy":
            self._select(panel, static_df)
            self.selected_ = dict(zip(self.names, self.weights.tolist(), strict=True))
            keep = np.flatnonzero(self.weights > 0)  # members never added are not refitted
            self.members = [self.members[i] for i in keep]
            self.names = [self.names[i] for i in keep]
            self.weights = self.weights[keep]
        for m in self.members:
            m.fit(panel, static_df)

    def _select(self, panel: pd.DataFrame, static_df: pd.DataFrame | None) -> None:
        """Greedy forward selection with replacement on the last ``validation`` periods."""
        dates = np.sort(panel[C.DS].unique())
        if len(dates) <= self.validation + 1:
            raise ValueError(f"ensemble selection: {len(dates)} periods of history, need more "
                             f"than validation = {self.validation}")  # fmt: skip
        cut = dates[-self.validation - 1]
        train, window = panel[panel[C.DS] <= cut], panel[panel[C.DS] > cut]
        cols = [Y_HAT] + [quantile_column(q) for q in self.quantiles]
        forecasts = []
        for name, m in zip(self.names, self.members, strict=True):
            held = copy.deepcopy(m).fit(train, static_df)  # the member itself is fitted later
            future = window.drop(columns=[C.Y]) if held.uses_future_covariates else None
            fc = held.predict(self.validation, future).set_index([C.UNIQUE_ID, C.DS])[cols]
            forecasts.append(fc)
            log.info("ensemble selection: %s validation wrmsse %.4f", name,
                     self._score(fc, window, train))  # fmt: skip
        counts = np.zeros(len(forecasts))
        total = 0 * forecasts[0]
        self.selection_path_ = []
        for _ in range(self.rounds):
            n = counts.sum() + 1
            scores = [self._score((total + f) / n, window, train) for f in forecasts]
            best = int(np.argmin(scores))
            counts[best] += 1
            total = total + forecasts[best]
            self.selection_path_.append((self.names[best], float(scores[best])))
        self.weights = counts / counts.sum()
        log.info("ensemble selection: weights %s, validation wrmsse %.4f",
                 {k: round(float(w), 3) for k, w in zip(self.names, self.weights, strict=True) if w},
                 self.validation_wrmsse_)  # fmt: skip

    def _score(self, fc: pd.DataFrame, window: pd.DataFrame, train: pd.DataFrame) -> float:
        actual = window[[C.UNIQUE_ID, C.DS, C.Y]]
        _, overall = evaluate(self._ordered(fc), actual, train, self.quantiles)
        return float(overall["wrmsse"])

    @property
    def validation_wrmsse_(self) -> float:
        """The selected blend's WRMSSE on the selection window (the last step of the path)."""
        return self.selection_path_[-1][1]

    def predict(self, h: int, future_covariates: pd.DataFrame | None = None) -> pd.DataFrame:
        cols = [Y_HAT] + [quantile_column(q) for q in self.quantiles]
        parts = [
            m.predict(h, future_covariates).set_index([C.UNIQUE_ID, C.DS])[cols]
            for m in self.members
        ]
        out = self._ordered(sum(w * p for w, p in zip(self.weights, parts, strict=True)))
        out.insert(2, MODEL_COL, self.name)
        return out

    def _ordered(self, combined: pd.DataFrame) -> pd.DataFrame:
        """A blend indexed by (unique_id, ds) as a frame, its quantiles made non-decreasing."""
        out = combined.reset_index()
        qcols = [quantile_column(q) for q in self.quantiles]
        out[qcols] = np.maximum.accumulate(out[qcols].to_numpy(), axis=1)
        return out

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for i, m in enumerate(self.members):
            m.save(path / f"member_{i}")
        members, self.members = self.members, []
        try:
            with open(path / "model.pkl", "wb") as fh:
                pickle.dump(self, fh)
        finally:
            self.members = members
        (path / "members.json").write_text(json.dumps([m.name for m in members]))
        write_class(path, self)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Ensemble:
        path = Path(path)
        with open(path / "model.pkl", "rb") as fh:
            obj = pickle.load(fh)
        n = len(json.loads((path / "members.json").read_text()))
        obj.members = [load_forecaster(path / f"member_{i}") for i in range(n)]
        return obj
