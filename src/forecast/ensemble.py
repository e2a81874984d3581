"""An ensemble of chosen forecasters: weighted average of point forecasts and of quantiles.

Averaging quantiles level by level (Vincentization) keeps them ordered and is the usual way to
combine probabilistic forecasts of different models.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from src.features import columns as C
from src.forecast.base import MODEL_COL, Forecaster, load_forecaster, write_class
from src.forecast.metrics import Y_HAT, quantile_column


class Ensemble(Forecaster):
    name = "ensemble"

    def __init__(
        self,
        members: Sequence[Forecaster] | Mapping[str, Callable[[], Forecaster]],
        weights: Sequence[float] | None = None,
        freq: str = "D",
        quantiles: Sequence[float] | None = None,
    ):
        """``members``: fitted-or-not forecasters, or ``{name: factory}`` as the config builds
        them; ``quantiles``, when given, must be what every member predicts."""
        if isinstance(members, Mapping):
            members = [make() for make in members.values()]
        if not members:
            raise ValueError("an ensemble needs at least one member")
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
        for m in self.members:
            m.fit(panel, static_df)

    def predict(self, h: int, future_covariates: pd.DataFrame | None = None) -> pd.DataFrame:
        cols = [Y_HAT] + [quantile_column(q) for q in self.quantiles]
        parts = [
            m.predict(h, future_covariates).set_index([C.UNIQUE_ID, C.DS])[cols]
            for m in self.members
        ]
        combined = sum(w * p for w, p in zip(self.weights, parts, strict=True))
        out = combined.reset_index()
        out.insert(2, MODEL_COL, self.name)
        qcols = cols[1:]
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
