"""MLflow pyfunc wrapper of a fitted recommender (model + id mappings + fallback segments)."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import pandas as pd

from src.features import columns as C
from src.recsys.base import Recommender
from src.tracking.runs import pinned_requirements

REQUIREMENTS = ("pandas", "numpy", "scipy", "lightgbm", "implicit", "mlflow", "pyarrow")


def pip_requirements() -> list[str]:
    return pinned_requirements(REQUIREMENTS)


class RecommenderModel(mlflow.pyfunc.PythonModel):
    """Input: ``customer_id`` (+ optional ``k``); output: the recommendations table."""

    def load_context(self, context):
        self.model = Recommender.load(Path(context.artifacts["recommender"]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        k = int(model_input["k"].max()) if "k" in model_input else 10
        return self.model.recommend(model_input[C.CUSTOMER_ID].astype(str).tolist(), k)
