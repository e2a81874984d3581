"""The MLflow pyfunc wrapper of a fitted forecaster, as registered and served.

Artifacts: ``forecaster`` (the saved model folder) and ``forecast`` (its forecast for the next
horizon from the end of the training data, with quantiles) and, for reconciled models,
``levels`` (the same forecast at every level of the hierarchy, ``hierarchy_level`` column). ``predict`` answers from the stored
forecast: input rows ``unique_id`` (optional: all series) and ``h`` (periods, at most the stored
horizon).
"""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd

from src.features import columns as C
from src.tracking.runs import pinned_requirements

REQUIREMENTS = ("pandas", "numpy", "scipy", "lightgbm", "darts", "torch", "mlflow", "pyarrow")


def pip_requirements() -> list[str]:
    return pinned_requirements(REQUIREMENTS)


class ForecasterModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.forecast = pd.read_parquet(context.artifacts["forecast"])
        self.horizon = int(self.forecast.groupby(C.UNIQUE_ID).size().max())
        # a reconciled model also stores every level (category plans that add up to the SKUs)
        path = context.artifacts.get("levels")
        self.levels = pd.read_parquet(path) if path else None

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        h = int(model_input["h"].max()) if "h" in model_input else self.horizon
        if h > self.horizon:
            raise ValueError(f"h={h} exceeds the stored horizon {self.horizon}")
        fc = self.forecast
        if C.UNIQUE_ID in model_input:
            fc = fc[fc[C.UNIQUE_ID].isin(model_input[C.UNIQUE_ID])]
        fc = fc.sort_values([C.UNIQUE_ID, C.DS])
        return fc.groupby(C.UNIQUE_ID, group_keys=False).head(h).reset_index(drop=True)
